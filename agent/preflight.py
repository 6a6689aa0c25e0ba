"""The checks before a live run sends anything: the coin, its mid and the account, as the venue lists them,
against the config. Each check is a pure function of those (tested alone); ``preflight`` asks the venue and
runs them. A run they refuse ends with exit code 2 and the message, which names the numbers and what to do.
"""
from __future__ import annotations

import logging
import math

from agent.config import MIN_COLLATERAL_USD


class Refused(Exception):
    """The run must not start as configured; the message says why and what to do."""


async def preflight(gw, plan):
    """Before anything is sent (``plan``: the live CLI's): the coin (asset id, size decimals), its mid, the account
    (position, value, the venue's clock), checked against the config, and a key that signs for another account (its
    userRole: an agent wallet of that account; then a noop it signs); (asset, mid, the config to run with, [(log
    level, text)] to tell once the run starts, the venue's clock less ours in s or None). Refused when the run must
    not start, GatewayError when the venue does not answer."""
    asset = await gw.prepare()
    mid = await gw.mid_px()
    # the gateway's clock, not time.time(): it stamps the nonces and expiresAfter the venue judges (a clock passed to
    # the gateway, stepped or corrected, was never the one checked), and its in-run check reads it too
    asked = gw.clock()
    account = await gw.account_state()
    answered = gw.clock()
    cfg = plan.config
    # the venue's clock (its answer's time) against ours: recorded at the request's midpoint (the best estimate, to
    # within half the round trip: calibration reads it), judged over the whole window (window_skew: a slow answer with
    # the clocks in step read at the midpoint as a skew, and refused the run); an answer without its time cannot be
    # checked
    venue_s = account.time_ms / 1000.0
    skew_s = venue_s - 0.5 * (asked + answered) if account.time_ms > 0 else None
    refuse, skew = clock_skew(0.0 if skew_s is None else window_skew(asked, answered, venue_s),
                              cfg.risk.ack_timeout_s, answered - asked)
    if refuse:
        if plan.network == "custom":  # (the venue's clock ahead: --speed 10x ran 25 s ahead before the first order)
            skew += " (against twin serve: twin serve at a --speed other than realtime does this, its clock " \
                    "running ahead of the host's: serve the agent at realtime, the default; so does a --params file " \
                    "that pins venue.epoch_ms to a number: null serves on the wall clock)"
        raise Refused(skew)
    first_dex = 0.0  # the account's value on the first dex, asked only for a HIP-3 coin whose dex holds nothing
    if not account.account_value > 0.0 and gw.dex:
        first_dex = (await gw.account_state(dex="")).account_value
    if gw.signer == gw.user and not account.account_value > 0.0 and not first_dex > 0.0:
        # an agent wallet's key with HL_ACCOUNT_ADDRESS unset or set to the wallet's own address: the venue books
        # its orders on the account that approved it, so with session.collateral_usd set (which the no-value refusal
        # below offers) a run traded that account while it watched the wallet's, empty (0 fills said). Asked
        # (weight 60) only of a key whose own address holds nothing; strictly only where the run would go on (a
        # lost answer must not turn a refusal below, certain anyway, into exit 1)
        if plan.account is not None and plan.collateral_set:
            role, master = await gw.user_role(gw.signer)
        else:
            role, master = await _role_if_known(gw, gw.signer) or ("", None)
        if role == "agent":
            raise Refused(agent_as_account_refusal(gw.signer, master, plan.account is not None))
    if not account.account_value > 0.0 and not first_dex > 0.0 and plan.account is None:
        raise Refused(f"the account {gw.user} has no value on the coin's dex: HL_ACCOUNT_ADDRESS is not set, so the "
                      f"agent trades as the key's own address; if HL_SECRET_KEY is an API (agent) wallet's key, set "
                      f"HL_ACCOUNT_ADDRESS to the account it trades for")
    if gw.signer != gw.user:
        # the noop below passes for any key the venue knows, and it books a key's actions on the account it is an
        # agent wallet of, or else on the key's own: with an account's own key and HL_ACCOUNT_ADDRESS another
        # account, a run traded the key's account (48 fills) while it watched the other (0 fills, position 0)
        role, master = await gw.user_role(gw.signer)
        if not (role == "agent" and master == gw.user.lower()):
            raise Refused(signer_role_refusal(gw.signer, gw.user, role, master, await _role_if_known(gw, gw.user)))
        refused = await gw.signer_refused()
        if refused is not None:
            raise Refused(f"the key signs as {gw.signer}, which the venue does not accept for the account {gw.user} "
                          f"(HL_ACCOUNT_ADDRESS): {refused} Use the account's own key, or an agent (API) wallet "
                          f"the account approved and that has not expired")
    cfg, basis_level, basis = equity_basis(cfg, account.account_value, plan.collateral_set, gw.dex, first_dex)
    for refusal in (unplaceable(cfg, mid, asset.sz_decimals, plan.coin),
                    None if plan.allow_oversized else oversized_position(account.position, cfg, plan.coin)):
        if refusal is not None:
            raise Refused(refusal)
    told = [(basis_level, basis)] + ([(logging.WARNING, skew)] if skew else [])
    for warning in (unmargined(cfg, mid, account.account_value, asset.max_leverage, plan.coin),
                    unplaceable_below(cfg, mid, asset.sz_decimals, plan.coin)):
        if warning:
            told.append((logging.WARNING, warning))
    return asset, mid, cfg, told, skew_s


async def _role_if_known(gw, address: str) -> tuple[str, str | None] | None:
    """``address``'s userRole, or None when the venue does not answer: only to say more in a refusal already
    certain (a sub-account or vault named in HL_ACCOUNT_ADDRESS), which a lost answer must not turn into exit 1."""
    from agent.gateway.hyperliquid.gateway import GatewayError
    try:
        return await gw.user_role(address)
    except GatewayError:
        return None


def agent_as_account_refusal(signer: str, master: str | None, account_set: bool) -> str:
    """Why an agent wallet's key (``signer``, of the account ``master``) must not run for the wallet's own address
    (``account_set``: HL_ACCOUNT_ADDRESS names it; else it is unset): the venue books what an agent signs on the
    account that approved it, so the run would trade ``master`` while it watched an address that holds nothing."""
    given = "names the wallet itself" if account_set else "is not set, so the run trades as the key's own address"
    return (f"the key signs as {signer}, an agent (API) wallet of the account {master} (the venue's userRole: "
            f"'agent'), and HL_ACCOUNT_ADDRESS {given}: the venue books an agent wallet's orders on the account "
            f"that approved it, so the run would trade {master} while it watched {signer}, which holds nothing. "
            f"Set HL_ACCOUNT_ADDRESS to {master}")


def signer_role_refusal(signer: str, account: str, role: str, master: str | None,
                        account_role: tuple[str, str | None] | None = None) -> str | None:
    """Why a key that signs as ``signer`` must not trade for ``account`` (HL_ACCOUNT_ADDRESS), or None when the
    venue's userRole of the signer (``role``, ``master``: whom it acts for) makes it an agent wallet of that account:
    the venue books what an agent signs on the account that approved it, and what any other key signs on the
    key's own account (or refuses it). ``account_role``: the account's own userRole, when known, to tell a
    sub-account or vault (which this agent cannot trade) from a typo. Addresses compare case-insensitively."""
    signer, account = signer.lower(), account.lower()
    master = master.lower() if master else None
    if role == "agent" and master == account:
        return None
    what = {"user": "an account of its own",
            "missing": "an address the venue does not know (neither an account nor an agent wallet)",
            "agent": f"an agent (API) wallet of the account {master}",
            "subAccount": f"a sub-account of {master}",
            "vault": "a vault"}.get(role, "an address of a role this agent does not know")
    text = (f"the key signs as {signer}, {what} (the venue's userRole: {role!r}), not an agent (API) wallet of the "
            f"account {account} (HL_ACCOUNT_ADDRESS)")
    if role == "user":
        text += (f": the venue books the orders a key signs on its own account, so the run would trade {signer} "
                 f"while it watched {account}'s position, orders and fills")
    elif role == "agent":
        text += (f": the venue books an agent wallet's orders on the account that approved it, so the run would "
                 f"trade {master} while it watched {account}")
    elif role == "missing":
        text += ": the venue would refuse every order it signs"
    a_role, a_master = account_role or (None, None)
    if role in ("subAccount", "vault") or a_role in ("subAccount", "vault"):
        held = (f"{account} is a sub-account of {a_master}, and this" if a_role == "subAccount" else
                f"{account} is a vault, and this" if a_role == "vault" else "This")
        return (f"{text}. {held} agent does not trade a sub-account or a vault: it signs every action "
                f"with no vaultAddress, which the venue books on the signer's own account (or the account it is "
                f"an agent wallet of). Run it for an account of its own, with that account's key or an agent "
                f"wallet it approved")
    fix = (f"Use {account}'s own key (HL_SECRET_KEY), or approve this key as {account}'s agent wallet (approveAgent, "
           f"signed with {account}'s key)")
    if role == "user":
        fix = (f"Use {account}'s own key (HL_SECRET_KEY), or the key of an agent wallet {account} approved "
               f"(approveAgent, signed with {account}'s key; a new key: this one is an account of its own); to "
               f"trade {signer} itself, unset HL_ACCOUNT_ADDRESS")
    elif role == "agent":
        fix += f"; if {master} is the account meant, set HL_ACCOUNT_ADDRESS to it"
    return f"{text}. {fix}"


def equity_basis(cfg, account_value: float, explicit: bool, dex: str = "", first_dex_value: float = 0.0):
    """(config, log level, what to tell): the equity a live run's drawdown rules measure from. Unless the config
    sets ``session.collateral_usd`` (``explicit``: a part of the account to risk), the account's value at the
    start: the default is a twin session's $100,000, and on a $1,000 account its 5% Kill would come at a loss of
    $5,000, five times what there is to lose (the drawdown rules, Yellow to Kill, would never fire). Set higher
    than the account's value, it is kept, with a warning. The config the core is built with, config.json and the
    start line all carry the value used, so a replay measures alike. Refused: an account with no value on the
    coin's dex, unless the config sets the basis (each HIP-3 dex margins apart, from collateral moved to it; an
    operator who knows better can start, warned). ``first_dex_value``: what the account holds on the first dex,
    when the coin is on HIP-3 ``dex``, named in the refusal (the collateral is there, not where the coin trades)."""
    s = cfg.safety
    if not account_value > 0.0 and not explicit:
        where = f"dex {dex!r}" if dex else "the coin's dex"
        held = (f", while it holds {first_dex_value:,.2f} USDC on the first dex" if first_dex_value > 0.0 else "")
        raise Refused(f"the account's value is {account_value:g} on {where}{held}: nothing to margin orders with "
                      f"(each HIP-3 dex margins apart: move collateral to it first), and nothing to measure the "
                      f"drawdown rules from. Set session.collateral_usd in --config to start anyway")
    if account_value < MIN_COLLATERAL_USD and not explicit:  # (the basis becomes the config's: it must load back)
        raise Refused(f"the account's value is {account_value:g} USDC, under the {MIN_COLLATERAL_USD:g} USDC the "
                      f"drawdown rules can measure from (session.collateral_usd's least): fund the account, or set "
                      f"session.collateral_usd in --config to start anyway")
    if explicit:
        c = cfg.session.collateral_usd
        if not account_value > 0.0:
            return cfg, logging.WARNING, (
                f"the account's value is {account_value:g} on the coin's dex: orders may be refused for margin; the "
                f"drawdown rules measure from session.collateral_usd, {c:,.2f} ({_kill_at(s, c)})")
        if c > account_value * 1.001:
            return cfg, logging.WARNING, (
                f"session.collateral_usd {c:,.2f} is more than the account's value, {account_value:,.2f} USDC: the "
                f"drawdown rules measure from it ({_kill_at(s, c)}, "
                f"{s.drawdown_kill * c / account_value:.0%} of the account)")
        return cfg, logging.INFO, (f"drawdown rules measure from session.collateral_usd, {c:,.2f} USDC (the "
                                   f"account's value {account_value:,.2f})")
    cfg = cfg.model_copy(update={"session": cfg.session.model_copy(update={"collateral_usd": account_value})})
    return cfg, logging.INFO, (f"drawdown rules measure from the account's value at the start, {account_value:,.2f} "
                               f"USDC ({_kill_at(s, account_value)}; set session.collateral_usd to risk a part of "
                               f"it)")


def _kill_at(s, basis: float) -> str:
    """When the drawdown Kill fires, as the config measures it: by default (``safety.drawdown_from`` 'peak') a fall
    of its share of the basis from the session's highest equity, which can come with the session in profit. Said as
    'a Kill at a loss of', an operator up $300 was told a Kill needed $500 lost."""
    amount = f"{s.drawdown_kill * basis:,.2f} USDC"
    if s.drawdown_from == "peak":
        return f"a Kill once equity falls {amount} below the session's highest"
    return f"a Kill at a loss of {amount}"


def window_skew(asked: float, answered: float, venue_s: float) -> float:
    """The venue's clock less ours (s; negative: ours ahead) that a request's whole window shows: the venue stamped
    its answer with ``venue_s`` somewhere between the request's send, ``asked``, and its answer, ``answered`` (our
    clock), so the skew lies between venue - answered and venue - asked; this is the end of that range nearest
    agreement (0 when it spans agreement). Judged at the window's midpoint, a slow answer with the clocks in step read
    as a skew of half the wait: held 1.5 s with a 1 s ttl, "0.8 s behind", a run refused (the start's check) or a
    clock said moved (the live gateway's, at each account snapshot). Both judge this."""
    lo, hi = venue_s - answered, venue_s - asked
    return lo if lo > 0.0 else hi if hi < 0.0 else 0.0


def clock_skew(skew_s: float, ttl_s: float, window_s: float = 0.0) -> tuple[bool, str | None]:
    """(refuse, what to tell) for this host's clock ``skew_s`` seconds behind the venue's (negative: ahead). Every
    action carries expiresAfter = our clock + ``risk.ack_timeout_s`` (``ttl_s``): behind by d, the venue keeps an
    action only ttl - d s, and one it refuses as expired costs 5x a request of the address budget; ahead by d, an
    order can still land up to ttl + d s after it was sent, when the agent already believes it gone (it counts it
    in its limits only that long). Past half the ttl either way the run is refused; past half a second, warned.
    ``window_s``: how long the request that measured it took (``skew_s`` is then its window's nearest end,
    ``window_skew``): said when wide, as the skew may be up to that much more."""
    d = abs(skew_s)
    if d <= _SKEW_WARN_S or not math.isfinite(skew_s):
        return False, None
    way = "behind" if skew_s > 0 else "ahead of"
    why = (f"every action's expiresAfter (our clock + risk.ack_timeout_s, {ttl_s:g} s) leaves the venue {ttl_s - d:.1f} "
           f"s to take it, and one refused as expired costs 5 requests of the address budget" if skew_s > 0 else
           f"an order can land up to {ttl_s + d:.1f} s after it is sent, when the agent counts it only {ttl_s:g} s")
    wide = (f" at least (the venue's answer took {window_s:.1f} s by our clock, and its time may be from any moment "
            f"of that)" if window_s > _SKEW_WARN_S else "")
    text = f"this host's clock is {d:.1f} s {way} the venue's{wide}: {why}. Synchronise the clock (NTP)"
    return d > 0.5 * ttl_s, text


_SKEW_WARN_S = 0.5


def unmargined(cfg, mid: float, account_value: float, max_leverage: int, coin: str) -> str | None:
    """What to warn of, or None, when ``risk.max_position`` at the mid is more than the account's value can margin
    at the coin's maximum leverage: the venue refuses the orders past it (PerpMargin, errors towards Red), so the
    limit the agent works to is not the one it was given. (A warning: the account's leverage setting, other
    positions and resting orders move the real bound either way.)"""
    notional = cfg.risk.max_position * mid
    bound = account_value * max_leverage
    if not account_value > 0.0 or max_leverage <= 0 or notional <= bound:
        return None
    return (f"risk.max_position {cfg.risk.max_position:g} {coin} is {notional:,.2f} USDC at the mid, more than the "
            f"account's {account_value:,.2f} margins at the coin's maximum leverage ({max_leverage}x: "
            f"{bound:,.2f}): orders past that are refused for margin (PerpMargin), which count towards Red")


def unplaceable(cfg, mid: float, sz_decimals: int, coin: str) -> str | None:
    """Why no order of the run could ever be placed, or None: the venue's minimum order (its value,
    ``quoting.ladder.min_notional_usd``, at the mid, on the coin's size grid) is more than the position limit at
    the first level that places orders (``risk.max_position`` times the level's scale: a tenth at MicroLive, half
    at Ramping). The defaults are BTC's (0.05): on a $0.10 coin the limit is half a cent and the minimum order 100
    coins, and a run would quote every cycle and place nothing, saying nothing. A limit of $50 passed, and MicroLive
    then worked to $5: 15 minutes without an order or a fill, and without fills no promotion out of it."""
    from agent.graduation.exposure import ExposureLevel, position_limit_scale

    min_notional = cfg.quoting.ladder.min_notional_usd
    limit = cfg.risk.max_position
    min_sz = _min_order(cfg, mid, sz_decimals)
    g = cfg.graduation
    first = max(ExposureLevel(g.start_level), ExposureLevel.MICRO_LIVE)  # (Shadow places nothing but its exits)
    if first > g.ceiling:  # a Shadow-only run: its exits are capped at the position, not the limit
        first = ExposureLevel.SHADOW
    scale = position_limit_scale(first) if first > ExposureLevel.SHADOW else 1.0
    if min_sz <= limit * scale + 1e-12:
        return None
    if min_sz > limit + 1e-12:  # (at no level)
        return (f"risk.max_position {limit:g} {coin} is {limit * mid:,.4g} USDC at the mid ({mid:g}), less than the "
                f"venue's minimum order of {min_notional:g} USDC ({min_sz:.{sz_decimals}f} {coin}): no order could be "
                f"placed. Set risk.max_position and quoting.order_size for {coin} in --config")
    return (f"risk.max_position {limit:g} {coin} ({limit * mid:,.4g} USDC at the mid, {mid:g}) is scaled by "
            f"{scale:g} at {first.name}, the first level this run places orders at: {limit * scale:g} {coin}, less "
            f"than the venue's minimum order of {min_notional:g} USDC ({min_sz:.{sz_decimals}f} {coin}). It could "
            f"place nothing there, and without fills never be promoted out of it. Set risk.max_position to at least "
            f"{min_sz / scale:g} {coin} in --config, or start higher (--start-level)")


def unplaceable_below(cfg, mid: float, sz_decimals: int, coin: str) -> str | None:
    """What to warn of, or None, when a level below the run's start that a demotion can reach (MicroLive, Ramping)
    works to a limit under the venue's minimum order: demoted there, the run places nothing, and without fills is
    never promoted back."""
    from agent.graduation.exposure import ExposureLevel, position_limit_scale

    min_sz = _min_order(cfg, mid, sz_decimals)
    start = ExposureLevel(cfg.graduation.start_level)
    stuck = [lv for lv in ExposureLevel if ExposureLevel.SHADOW < lv < start
             and min_sz > cfg.risk.max_position * position_limit_scale(lv) + 1e-12]
    if not stuck:
        return None
    names = ", ".join(f"{lv.name} (x{position_limit_scale(lv):g})" for lv in stuck)
    return (f"risk.max_position {cfg.risk.max_position:g} {coin} scaled at {names} is less than the venue's minimum "
            f"order ({min_sz:.{sz_decimals}f} {coin}): a demotion there places nothing and is never promoted back "
            f"(no fills). {min_sz / position_limit_scale(stuck[0]):g} {coin} would let every level place")


def _min_order(cfg, mid: float, sz_decimals: int) -> float:
    from agent.quoting.ladder import venue_min_size
    lot = 10.0 ** -sz_decimals
    return max(lot, venue_min_size(cfg.quoting.ladder.min_notional_usd, mid, lot)) if mid > 0.0 else lot


def oversized_position(position: float, cfg, coin: str) -> str | None:
    """Why a run must not start on an account already holding ``position`` of the coin, or None. Past
    ``safety.position_kill_frac`` x ``risk.max_position`` the safety ladder's runaway rule Kills in the first
    cycle, and its flatten (the default) sells or buys the whole position through the book, 1% through the touch:
    a position someone holds on purpose (a hedge, a manual trade) dumped within a second of the start, by an
    agent that never built it. (Short of that, Orange or Shadow's exits work it off with resting orders.)"""
    from agent.safety import SafetyEscalator, SafetyInputs, SafetyLevel
    limit = cfg.risk.max_position
    # the safety ladder's own rules on the position alone (no equity, no data age): what its first cycle would see
    hits = SafetyEscalator(cfg.safety).rule_hits(SafetyInputs(0.0, math.nan, 0.0, position, limit))
    kill = next((h for h in hits if h.level is SafetyLevel.KILL and h.rule == "position_frac"), None)
    if kill is None:
        return None
    frac = kill.value
    then = ("flattens it through the book with a taker order 1% through the touch (safety.kill_action flatten)"
            if cfg.safety.kill_action == "flatten" else "cancels everything and stops, holding it (safety.kill_action hold)")
    return (f"the account already holds {position:+g} {coin}, {frac:.3g}x risk.max_position ({limit:g}): past "
            f"safety.position_kill_frac ({kill.threshold:g}x) the agent's first cycle is a Kill, which {then}. Raise "
            f"risk.max_position in --config, reduce the position first, or pass --allow-oversized-position to start "
            f"anyway")
