#!/usr/bin/env python3
"""bench/orders_setup.py: builds the marketplace bench/orders.sh measures.

Through livemart's own API on 127.0.0.1: an approved shop, a category, two
hot products with ample stock (one for livemart, one for the conventional
server, so neither run drains the other), PRODUCTS spread products, and
BUYERS buyers with an address and an access token. Then it writes the
request files for bench_http_load (METHOD<TAB>PATH<TAB>TOKEN|-<TAB>BODY):

  livemart_hot.txt, livemart_spread.txt       buy-now POST /orders
  conventional_hot.txt, conventional_spread.txt   POST /orders to the conventional server

and hot_products.txt (livemart's, then the conventional one's id).

usage: orders_setup.py PORT ADMIN_EMAIL ADMIN_PASSWORD OUT_DIR BUYERS PRODUCTS
"""
import http.client
import json
import random
import sys


class Api:
    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(self, method, path, body=None, token=None, expect=(200, 201)):
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = "Bearer " + token
        self.conn.request(method, path, json.dumps(body) if body is not None else None, headers)
        res = self.conn.getresponse()
        data = res.read()
        if res.status not in expect:
            sys.exit(f"orders_setup: {method} {path} -> {res.status} {data[:300]!r}")
        return json.loads(data) if data else None


def login(api, email, password):
    return api.call("POST", "/auth/login", {"email": email, "password": password})["access_token"]


def register(api, email, password):
    api.call("POST", "/auth/register", {"email": email, "password": password, "display_name": "Bench"})
    return login(api, email, password)


def main():
    port, admin_email, admin_password, out, buyers, products = sys.argv[1:7]
    buyers, products = int(buyers), int(products)
    rnd = random.Random(7)
    api = Api(int(port))
    admin = login(api, admin_email, admin_password)
    seller = register(api, "bench.seller@example.com", "bench seller passphrase")
    shop = api.call("POST", "/sellers/apply", {"shop_name": "Bench Shop", "contact_email": "s@example.com",
                                               "country": "DE", "business_type": "company"}, seller)
    api.call("POST", f"/admin/sellers/{shop['id']}/approve", None, admin)
    category = api.call("POST", "/admin/categories", {"name": "Bench"}, admin)["id"]

    def product(title, stock):
        return api.call("POST", "/products", {"category_id": category, "title": title, "description": "bench",
                                               "price_minor": 1999, "currency": "EUR", "stock": stock,
                                               "status": "active", "image_urls": []}, seller)["id"]

    hot = product("Hot drop (livemart)", 10_000_000)
    hot_conventional = product("Hot drop (conventional)", 10_000_000)
    spread = [product(f"Item {i}", 100_000) for i in range(products)]
    # The conventional server takes its spread products from the same set,
    # but from the other end, so the two runs rarely touch the same row.
    people = []
    for i in range(buyers):
        token = register(api, f"bench.buyer{i}@example.com", "bench buyer passphrase")
        address = api.call("POST", "/users/addresses", {"name": "Bench Buyer", "line1": "Street 1", "city": "Berlin",
                                                        "postal_code": "10115", "country": "DE"}, token)["id"]
        me = api.call("GET", "/auth/me", None, token)
        people.append((token, address, me.get("id") or me.get("user_id")))

    def buy(product_id, person):
        token, address, _ = person
        body = json.dumps({"items": [{"product_id": product_id, "quantity": 1}], "address_id": address},
                          separators=(",", ":"))
        return f"POST\t/orders\t{token}\t{body}\n"

    def conventional(product_id, person):
        body = json.dumps({"product_id": product_id, "quantity": 1, "buyer_id": person[2]}, separators=(",", ":"))
        return f"POST\t/orders\t-\t{body}\n"

    with open(f"{out}/livemart_hot.txt", "w") as f:
        f.writelines(buy(hot, p) for p in people)
    with open(f"{out}/conventional_hot.txt", "w") as f:
        f.writelines(conventional(hot_conventional, p) for p in people)
    with open(f"{out}/livemart_spread.txt", "w") as f:
        f.writelines(buy(spread[rnd.randrange(products)], people[i % buyers]) for i in range(products))
    with open(f"{out}/conventional_spread.txt", "w") as f:
        f.writelines(conventional(spread[products - 1 - rnd.randrange(products)], people[i % buyers])
                     for i in range(products))
    with open(f"{out}/hot_products.txt", "w") as f:
        f.write(f"{hot}\n{hot_conventional}\n")
    print(f"orders_setup: {products} spread products, 2 hot products, {buyers} buyers")


if __name__ == "__main__":
    main()
