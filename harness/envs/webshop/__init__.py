"""WebShop (Yao et al. 2022) text environment, its catalog formats, generator and reward."""

from harness.envs.webshop.env import WebShopEnv, WebShopWorld, load_world, make_webshop

__all__ = ["WebShopEnv", "WebShopWorld", "load_world", "make_webshop"]
