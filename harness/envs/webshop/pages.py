"""The text pages of the WebShop site: what each page shows and which clickables it offers.

Observation strings reproduce the original's "simple" text mode: the visible strings of the page
joined by `` [SEP] ``, with the instruction on every page. The one deviation is the done page,
which shows only the thank-you line and the score (the original also prints hidden debugging
fields, including the goal).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.envs.webshop.catalog import Product

SEP = " [SEP] "
PRODUCTS_PER_PAGE = 10
BACK_TO_SEARCH = "back to search"
NEXT_PAGE = "next >"
PREV_PAGE = "< prev"
BUY_NOW = "buy now"
SUB_PAGES = ("Description", "Features", "Reviews")


@dataclass
class PageState:
    """Where the shopper is and what they have chosen (one per episode)."""

    kind: str = "start"  # start | results | item | sub | done
    keywords: str = ""
    results: list[Product] = field(default_factory=list)
    page: int = 1
    product: Product | None = None
    options: dict[str, str] = field(default_factory=dict)
    sub_page: str = ""
    reward: float = 0.0


def clickables(state: PageState) -> list[str]:
    """Lower-cased clickable values of the page, in page order (buttons, links, then options)."""
    if state.kind == "start":
        return ["search"]
    if state.kind == "results":
        out = [BACK_TO_SEARCH] + ([PREV_PAGE] if state.page > 1 else []) + [NEXT_PAGE]
        return out + [p.asin.lower() for p in page_products(state)]
    if state.kind == "item":
        out = [BACK_TO_SEARCH, PREV_PAGE] + [s.lower() for s in SUB_PAGES] + [BUY_NOW]
        for values in state.product.options.values():
            out.extend(values)
        return out
    if state.kind == "sub":
        return [BACK_TO_SEARCH, PREV_PAGE]
    return []


def option_owner(product: Product) -> dict[str, str]:
    """Option value -> option group (a value shared by two groups belongs to the later one)."""
    owner = {}
    for name, values in product.options.items():
        for v in values:
            owner[v] = name
    return owner


def page_products(state: PageState) -> list[Product]:
    """The products shown on the current results page."""
    start = (state.page - 1) * PRODUCTS_PER_PAGE
    return state.results[start : start + PRODUCTS_PER_PAGE]


def render(state: PageState, instruction: str) -> str:
    """The page as the agent reads it."""
    head = f"Instruction:{SEP}{instruction}{SEP}"
    if state.kind == "start":
        return f"WebShop{SEP}{head}Search"
    if state.kind == "results":
        parts = ["Back to Search", f"Page {state.page} (Total results: {len(state.results)})"]
        if state.page > 1:
            parts.append("< Prev")
        parts.append("Next >")
        for p in page_products(state):
            parts += [p.asin, p.name, p.price_tag]
        return head + SEP.join(parts)
    if state.kind == "item":
        p = state.product
        parts = ["Back to Search", "< Prev"]
        for name, values in p.options.items():
            parts.append(name)
            parts.extend(values)
        parts += [p.name, f"Price: {p.price_tag}", "Rating: N.A.", *SUB_PAGES, "Buy Now"]
        return head + SEP.join(parts)
    if state.kind == "sub":
        p = state.product
        parts = ["Back to Search", "< Prev"]
        if state.sub_page == "Description":
            parts.append(p.description)
        elif state.sub_page == "Features":
            parts.extend(p.bullets)
        # Reviews: the original ships no review texts, so the page has only its buttons.
        return head + SEP.join(x for x in parts if x)
    return f"Thank you for shopping with us!{SEP}Your score (min 0.0, max 1.0){SEP}{state.reward}"
