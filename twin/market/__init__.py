"""Market processes behind one interface: the embedded synthetic market and replay of recorded venue data."""
from twin.market.base import BOOK, TRADE, MarketChunk, MarketProcess, Shock
from twin.market.replay import ReplayFormatError, ReplayMarket, write_replay
from twin.market.synthetic import SHOCKABLE_PARAMS, SyntheticMarket, SyntheticMarketParams

__all__ = ["BOOK", "TRADE", "MarketChunk", "MarketProcess", "Shock", "ReplayFormatError", "ReplayMarket",
           "write_replay", "SHOCKABLE_PARAMS", "SyntheticMarket", "SyntheticMarketParams"]
