#!/usr/bin/env python3
# Writes the seed corpora of fuzz/corpus/<target>/: a few valid and edge-case
# inputs per target. Tokens and signatures are made with the targets' fixed
# keys and clock (fuzz/common.hpp, fuzz/common.cpp), so run this again after
# changing them or what a token or a decoder needs. docs/reliability.md.
import base64, hmac, hashlib, json, os, re
here = os.path.dirname(os.path.abspath(__file__))
root = os.path.join(here, 'corpus')
NOW = 1700000000  # fuzz::now_s
common = open(os.path.join(here, 'common.hpp')).read()
WH = re.search(r'webhook_secret = "([^"]+)"', common).group(1)
WH_OLD = re.search(r'webhook_secret_old = "([^"]+)"', common).group(1)
KEY = bytes.fromhex('aa' * 32)  # kid k1, the signing key of fuzz::tokens()

def b64(b): return base64.urlsafe_b64encode(b).rstrip(b'=').decode()
def token(header=None, payload=None, key=KEY):
    header = header or {"alg": "HS256", "typ": "at+jwt", "kid": "k1"}
    payload = payload or {"iss": "livemart", "aud": "livemart-api", "sub": "42", "sid": "7300000000000042", "iat": NOW, "nbf": NOW, "exp": NOW + 900, "jti": "fuzz"}
    h = json.dumps(header, separators=(',', ':')) if isinstance(header, dict) else header
    p = json.dumps(payload, separators=(',', ':')) if isinstance(payload, dict) else payload
    inp = b64(h.encode()) + '.' + b64(p.encode())
    return inp + '.' + b64(hmac.new(key, inp.encode(), hashlib.sha256).digest())
def stripe_sig(body, secret=WH, t=NOW):
    return 't=%d,v1=%s' % (t, hmac.new(secret.encode(), ('%d.' % t).encode() + body.encode(), hashlib.sha256).hexdigest())

def write(target, name, data):
    d = os.path.join(root, target); os.makedirs(d, exist_ok=True)
    if isinstance(data, str): data = data.encode()
    open(os.path.join(d, name), 'wb').write(data)

TOK = token()
# ---------------------------------------------------------------- http_request
H = 'http_request'
def req(lines, body=''):
    return '\r\n'.join(lines) + '\r\n\r\n' + body
write(H, 'get_healthz', '@' + req(['GET /healthz HTTP/1.1', 'Host: localhost']))
write(H, 'search_one_byte_reads', 'A' + req(['GET /products?q=wireless+headphones&in_stock=true&sort=price_asc&limit=5&min_price=100&max_price=9000 HTTP/1.1', 'Host: localhost']))
cur = b64(b'1.1.1999.7300000000000001')
write(H, 'search_cursor', '@' + req(['GET /sellers/7300000000000001/products?sort=price_asc&cursor=%s&category=%%37 HTTP/1.1' % cur, 'Host: localhost']))
body = '{"items":[{"product_id":"7300000000000001","quantity":2}],"address_id":"7300000000000002"}'
write(H, 'checkout_pipelined', '@' + req(['POST /orders/checkout HTTP/1.1', 'Host: localhost', 'Authorization: Bearer ' + TOK, 'Content-Type: application/json', 'Content-Length: %d' % len(body)], body)
      + req(['GET /orders/7300000000000003 HTTP/1.1', 'Host: localhost', 'authorization: bearer ' + TOK])
      + req(['GET /orders?limit=10&cursor=7300000000000003 HTTP/1.1', 'Host: localhost', 'Connection: close']))
write(H, 'chunked_extensions_trailer', 'E' + req(['POST /products HTTP/1.1', 'Host: localhost', 'Transfer-Encoding: chunked', 'Content-Type: application/json'],
      '5;ext=1;name="v"\r\n{"a":\r\n3\r\n 1}\r\n0\r\nX-Trailer: yes\r\n\r\n'))
write(H, 'transfer_coding_gzip', '@' + req(['POST /products HTTP/1.1', 'Host: localhost', 'Transfer-Encoding: gzip, chunked'], '0\r\n\r\n'))
write(H, 'transfer_encoding_http10', '@' + req(['POST /products HTTP/1.0', 'Transfer-Encoding: chunked'], '0\r\n\r\n'))
write(H, 'two_hosts', '@' + req(['GET /healthz HTTP/1.1', 'Host: a', 'Host: b']))
write(H, 'no_host', '@' + req(['GET /healthz HTTP/1.1']))
write(H, 'websocket_upgrade', '@' + req(['GET /streams/7300000000000001/ws?x=1 HTTP/1.1', 'Host: localhost', 'Upgrade: websocket', 'Connection: Upgrade',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13', 'Origin: http://localhost', 'Authorization: Bearer ' + TOK]))
write(H, 'websocket_user_bad_key', '@' + req(['GET /users/me/ws HTTP/1.1', 'Host: localhost', 'Upgrade: websocket', 'Connection: upgrade',
      'Sec-WebSocket-Key: short==', 'Sec-WebSocket-Version: 13']))
ev = '{"id":"evt_1","type":"payment_intent.succeeded","created":%d,"data":{"object":{"id":"pi_1","object":"payment_intent","status":"succeeded","amount":1000,"amount_received":1000,"currency":"usd","metadata":{"payment_id":"7300000000000005","order_id":"7300000000000006"}}}}' % NOW
write(H, 'stripe_webhook', '@' + req(['POST /payments/webhook HTTP/1.1', 'Host: localhost', 'Content-Type: application/json', 'Stripe-Signature: ' + stripe_sig(ev), 'Content-Length: %d' % len(ev)], ev))
write(H, 'body_too_large', '@' + req(['POST /auth/register HTTP/1.1', 'Host: localhost', 'Content-Length: 70000'], '{"email":'))
write(H, 'header_too_large', '@' + req(['GET /healthz HTTP/1.1', 'Host: localhost', 'X-Filler: ' + 'a' * 8300]))
write(H, 'chunk_line_too_long', '@' + req(['POST /products HTTP/1.1', 'Host: localhost', 'Transfer-Encoding: chunked'], '5;' + 'e' * 1100 + '\r\nhello\r\n0\r\n\r\n'))
write(H, 'trailer_too_large', '@' + req(['POST /products HTTP/1.1', 'Host: localhost', 'Transfer-Encoding: chunked'], '1\r\na\r\n0\r\nX-T: ' + 'b' * 4200 + '\r\n\r\n'))
write(H, 'method_not_allowed', '@' + req(['DELETE /healthz HTTP/1.1', 'Host: localhost']) + req(['PUT /products/abc/price HTTP/1.1', 'Host: localhost', 'Content-Length: 2'], '{}')
      + req(['GET /no/such//route/ HTTP/1.1', 'Host: localhost']))
write(H, 'partial_request', '@GET /healthz HTTP/1.1\r\nHost: local')
write(H, 'garbage', '@GET / HTTP/9.9\r\nHost:\r\n :x\r\n\r\n')
# ---------------------------------------------------------------- json_decoders
J = 'json_decoders'
addr = '{"name":"Ada Lovelace","line1":"12 Main St","line2":"","city":"Springfield","region":"IL","postal_code":"62704","country":"us","phone":"+1 555 0100 200","is_default":true}'
items = '"items":[{"product_id":"7300000000000001","quantity":2},{"product_id":"7300000000000002","quantity":1}],"address_id":"7300000000000009"'
dec = [
  ('register', '{"email":" Ada@Example.COM ","password":"correct horse battery staple","display_name":"Ada"}'),
  ('login', '{"email":"ada@example.com","password":"x"}'),
  ('refresh_plain', '{"refresh_token":"rt_abc"}'),
  ('refresh', '{"refresh_token":"rt_abc"}'),
  ('profile_patch', '{"display_name":"Ada L.","bio":"line one\\nline two","avatar_url":"https://img.example.com/a.png"}'),
  ('address', addr),
  ('address_patch', '{"postal_code":"sw1a 1aa","country":"GB","line2":null}'),
  ('category_create', '{"name":"Headphones","parent_id":"7300000000000001","position":3}'),
  ('category_patch', '{"parent_id":null,"position":-2}'),
  ('review', '{"rating":5,"title":"Great","body":"Loud\\nand clear \\u00e9"}'),
  ('product_create', '{"category_id":"7300000000000001","title":"Wireless headphones","description":"Over-ear","price_minor":4999,"currency":"EUR","stock":10,"status":"active","image_urls":["https://img.example.com/1.jpg"]}'),
  ('product_patch', '{"title":"New title","status":"archived","image_urls":[]}'),
  ('restock', '{"delta":-3,"reason":"damaged"}'),
  ('price', '{"price_minor":1999}'),
  ('checkout', '{' + items + '}'),
  ('place', '{' + items + ',"payment_method":"pm_card_visa"}'),
  ('pay', '{"google_pay_token":"{\\"signature\\":\\"x\\"}"}'),
  ('ship', '{"carrier":"DHL","tracking_number":"JD0146"}'),
  ('deliver', ''),
  ('cancel', '{"reason":"changed my mind"}'),
  ('refund', '{"amount_minor":500,"reason":"partial"}'),
  ('seller_application', '{"shop_name":"Joe\'s Vintage Shop!","description":"Old things","contact_email":"joe@example.com","country":"DE","business_type":"individual"}'),
  ('rejection', '{"reason":"incomplete"}'),
  ('stream_draft', '{"title":"Friday drop","description":"New stock","scheduled_at_ms":%d,"featured":["7300000000000001"],"allow_anonymous":false,"start_now":false}' % (NOW * 1000 + 3600000)),
  ('stream_patch', '{"title":"Later","featured":[],"allow_anonymous":true}'),
  ('drop_spec', '{"product_id":"7300000000000001","quantity":50,"price_minor":1500,"duration_s":300,"per_buyer_limit":2}'),
  ('auction_spec', '{"product_id":"7300000000000001","starting_price_minor":100,"duration_s":60,"sudden_death":true}'),
  ('drop_buy', '{"address_id":"7300000000000009","quantity":1}'),
  ('bid', '{"amount_minor":2500}'),
  ('pin', '{"product_id":"7300000000000001"}'),
  ('body_reader', '{"s":null,"b":false,"i":-7,"id":"12","a":["x","y"],"n":null,"o":[{"t":"hi\\nthere"}],"extra":1}'),
  ('json_parse', '{"k\\u0000":"\\ud83d\\ude00\\"\\\\\\/\\b\\f\\n\\r\\t","a":[1,-2.5e10,true,false,null,{}]}'),
]
dec += [
  ('password_change', '{"current_password":"old secret","new_password":"a much longer new passphrase"}'),
  ('suspension', '{"reason":"chargebacks"}'),
]
assert len(dec) == 34
for i, (name, body) in enumerate(dec):
    write(J, '%02d_%s' % (i, name), chr(0x40 + i) + body)
write(J, 'edge_deep_nesting', chr(0x5f) + '[' * 20 + ']' * 20)
write(J, 'edge_unknown_fields', chr(0x40) + '{"email":"a@b.cd","password":"p","display_name":"\\u0001","role":"admin","\\u00e9\\"":1}')
write(J, 'edge_duplicate_line', chr(0x40 + 14) + '{"items":[{"product_id":"1","quantity":1},{"product_id":"1","quantity":101}],"address_id":"0"}')
write(J, 'edge_not_object', chr(0x40 + 9) + '[1,2,3]')
write(J, 'edge_drop_price_null', chr(0x40 + 25) + '{"product_id":"7300000000000001","quantity":5,"price_minor":null,"duration_s":60}')
write(J, 'edge_huge_numbers', chr(0x40 + 12) + '{"delta":9223372036854775807,"reason":"x","price_minor":1e400}')
# ---------------------------------------------------------------- jwt
T = 'jwt'
write(T, 'valid', TOK)
write(T, 'signed_claims', '{"alg":"HS256","typ":"at+jwt","kid":"k1"}\n{"iss":"livemart","aud":["other","livemart-api"],"sub":"7","sid":"9","iat":%d,"exp":%d}' % (NOW - 10, NOW + 800))
write(T, 'signed_expired', '{"alg":"HS256","typ":"at+jwt","kid":"k1"}\n{"iss":"livemart","aud":"livemart-api","sub":"7","sid":"0","iat":%d,"exp":%d,"nbf":-1}' % (NOW - 2000, NOW - 1100))
write(T, 'signed_long_life', '{"alg":"HS256","typ":"at+jwt","kid":"k1","crit":["x"]}\n{"iss":"livemart","aud":"livemart-api","sub":"18446744073709551615","iat":0,"exp":1099511627775}')
write(T, 'alg_none', b64(b'{"alg":"none","typ":"at+jwt","kid":"k1"}') + '.' + b64(b'{"sub":"1"}') + '.')
write(T, 'other_key', token(header={"alg": "HS256", "typ": "at+jwt", "kid": "k0"}, key=bytes.fromhex('bb' * 32)))
write(T, 'keys_setting', 'k1:' + 'ab' * 32 + ',k2:' + 'CD' * 33)
write(T, 'garbage', 'a.b.c.d')
# ---------------------------------------------------------------- stripe_signature
S = 'stripe_signature'
write(S, 'event_signed', stripe_sig(ev) + '\n' + ev)
write(S, 'event_old_secret_two_sigs', stripe_sig(ev, WH_OLD, NOW - 200) + ',v1=00,v0=abc\n' + ev)
write(S, 'too_old', stripe_sig(ev, WH, NOW - 301) + '\n' + ev)
write(S, 'malformed_t', 't=+17,v1=zz, t=-1\n{}')
write(S, 'charge_refunded', 't=1,v1=\n{"id":"evt_2","type":"charge.refunded","data":{"object":{"object":"charge","payment_intent":"pi_1","amount_refunded":500,"amount_captured":1000,"status":"succeeded"}}}')
write(S, 'intent_list', 'v1=\n{"data":[{"id":"pi_1","status":"requires_action","amount":5,"next_action":{"redirect_to_url":{"url":"https://x"}},"latest_charge":{"amount_refunded":1}}],"has_more":true}')
write(S, 'error_reply', '\n{"error":{"message":"Your card was declined.","code":"card_declined","decline_code":"insufficient_funds","payment_intent":{"id":"pi_9"}}}')
write(S, 'refund', '\n{"id":"re_1","amount":500,"status":"pending","failure_reason":""}')
# ---------------------------------------------------------------- ws_message
W = 'ws_message'
write(W, 'hello_token', json.dumps({"type": "hello", "token": TOK, "ref": "1"}))
write(W, 'hello_anonymous', '{"type":"hello","token":null}')
write(W, 'ping', '{"type":"ping","ref":"p\\u00e9\\"\\\\"}')
write(W, 'resync', '{"type":"resync"}')
write(W, 'bid', '{"type":"bid","amount_minor":2500,"auction_id":"7300000000000004","ref":"b1"}')
write(W, 'buy', '{"type":"buy","address_id":"7300000000000009","drop_id":"7300000000000008","quantity":2,"key":"k-123","ref":"x"}')
write(W, 'unknown_type', '{"type":"shout","ref":"' + 'r' * 70 + '","extra":[1]}')
write(W, 'not_json', 'hello')
# ---------------------------------------------------------------- search_params
Q = 'search_params'
write(Q, 'words', 'q=wireless+headphones&in_stock=true')
write(Q, 'filters', 'category=7300000000000001&seller=7300000000000002&min_price=100&max_price=5000&sort=price_desc&limit=100')
write(Q, 'cursor', 'sort=price_asc&cursor=' + b64(b'1.1.1999.7300000000000001'))
write(Q, 'cursor_wrong_sort', 'sort=newest&cursor=' + b64(b'1.4.-5.1'))
write(Q, 'cursor_alone', b64(b'1.3.1700000000000.7300000000000001'))
write(Q, 'percent_escapes', 'q=%E2%9C%93%20caf%C3%A9%zz%&limit=0&in_stock=maybe')
write(Q, 'list_cursor', '7300000000000003')
write(Q, 'live_cursor', '42.7300000000000003')
write(Q, 'bad_prices', 'min_price=9&max_price=3&q=' + 'x' * 201)
