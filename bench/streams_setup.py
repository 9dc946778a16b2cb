#!/usr/bin/env python3
"""bench/streams_setup.py: builds the live stream bench/streams.sh watches.

Through livemart's own API on 127.0.0.1: an approved shop, a category, one
product with STOCK units, a stream that is live now featuring it, a drop of
DROP units of it (per-buyer limit 100, an hour long), and BUYERS buyers with
an address and an access token. Writes OUT_DIR/buyers.txt ("token address"
per line) and prints {"stream": ..., "drop": ..., "product": ...}.

usage: streams_setup.py PORT ADMIN_EMAIL ADMIN_PASSWORD OUT_DIR BUYERS STOCK DROP
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from orders_setup import Api, login, register  # noqa: E402


def main():
    port, admin_email, admin_password, out, buyers, stock, drop = sys.argv[1:8]
    api = Api(int(port))
    admin = login(api, admin_email, admin_password)
    seller = register(api, "bench.streamer@example.com", "bench streamer passphrase")
    shop = api.call("POST", "/sellers/apply", {"shop_name": "Bench Live", "contact_email": "live@example.com",
                                              "country": "DE", "business_type": "company"}, seller)
    api.call("POST", f"/admin/sellers/{shop['id']}/approve", None, admin)
    category = api.call("POST", "/admin/categories", {"name": "Bench live"}, admin)
    product = api.call("POST", "/products", {"category_id": category["id"], "title": "Bench camera",
                                             "description": "for the fan-out benchmark", "price_minor": 1000,
                                             "currency": "EUR", "stock": int(stock), "status": "active",
                                             "image_urls": []}, seller)
    stream = api.call("POST", "/streams", {"title": "Bench stream", "featured": [product["id"]],
                                           "start_now": True}, seller)["stream"]
    dropped = api.call("POST", f"/streams/{stream['id']}/drops",
                       {"product_id": product["id"], "quantity": int(drop), "duration_s": 3600,
                        "per_buyer_limit": 100}, seller)
    with open(os.path.join(out, "buyers.txt"), "w") as f:
        for i in range(int(buyers)):
            token = register(api, f"bench.viewer{i}@example.com", "bench viewer passphrase")
            address = api.call("POST", "/users/addresses", {"name": "Bench", "line1": "Street 1", "city": "Berlin",
                                                            "postal_code": "10115", "country": "DE"}, token)
            f.write(f"{token} {address['id']}\n")
    print(json.dumps({"stream": stream["id"], "drop": dropped["id"], "product": product["id"]}))


if __name__ == "__main__":
    main()
