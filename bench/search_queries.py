"""The searches of bench/run.sh and bench/search.sh, as shoppers type them:
single words, pairs, prefixes, typos, filters, every sort and category
browsing (with facets), over the words of the demo seed.

usage: search_queries.py BASE_URL OUT_FILE  (one path per line)
"""
import json
import sys
import urllib.request


def get(base, path):
    with urllib.request.urlopen(base + path, timeout=10) as r:
        return json.load(r)


def search_paths(base):
    tree = get(base, "/categories")
    cats = []

    def walk(nodes):
        for n in nodes:
            cats.append(n["id"])
            walk(n.get("children", []))

    walk(tree["items"])
    words = ["headphones", "wireless", "vintage", "sneakers", "watch", "card", "lens", "black", "leather",
             "dress", "coffee", "serum", "figure", "tent", "puzzle", "knife", "ring", "backpack", "kumo", "nordlys",
             "premium", "handmade", "retro", "silver", "jacket", "espresso", "keyboard", "candle", "coin", "helmet"]
    pairs = ["wireless headphones", "vintage watch", "leather jacket", "pokemon booster", "mechanical keyboard",
             "cast iron", "gold ring", "running shoes", "scented candle", "studio headphones", "denim jacket",
             "dive watch", "yoga mat", "brick set", "silver coin", "tote bag"]
    prefixes = ["head", "snea", "mech", "vint", "esp", "back", "neck", "kett"]
    typos = ["headphnes", "wirless", "sneekers", "vintge watch", "lether", "keybord", "espreso", "backpak"]
    sorts = ["relevance", "price_asc", "price_desc", "newest", "rating"]
    paths = []
    for i, w in enumerate(words):
        paths.append(f"/products?q={w}")
        paths.append(f"/products?q={w}&in_stock=true&sort={sorts[i % 5]}")
        paths.append(f"/products?q={w}&min_price=1000&max_price=20000")
    for p in pairs:
        paths.append("/products?q=" + p.replace(" ", "+"))
        paths.append("/products?q=" + p.replace(" ", "+") + "&sort=price_asc&limit=40")
    for p in prefixes:
        paths.append(f"/products?q={p}")
    for t in typos:
        paths.append("/products?q=" + t.replace(" ", "+"))
    for i, c in enumerate(cats):
        paths.append(f"/products?category={c}&sort={sorts[(i + 1) % 5]}")
        if i % 3 == 0:
            paths.append(f"/products?category={c}&q={words[i % len(words)]}")
    paths.append("/products")
    paths.append("/products?in_stock=true&sort=price_desc")
    return paths, len(cats)


if __name__ == "__main__":
    base, out = sys.argv[1:3]
    paths, _ = search_paths(base)
    with open(out, "w") as f:
        f.writelines(p + "\n" for p in paths)
