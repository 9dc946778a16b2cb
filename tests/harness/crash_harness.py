#!/usr/bin/env python3
"""The crash harness: a flash sale while livemart is killed and PostgreSQL
stopped, then a checker that proves nothing acknowledged was lost.

It starts a private PostgreSQL cluster and the real livemart binary on
loopback, builds a marketplace through the API (a hot product, cold ones,
a live stream with a drop and an auction) and lets buyers buy: one-product
and two-product buy-nows, drop purchases, bids and restocks. Meanwhile it
SIGKILLs livemart at random moments and restarts it, then stops PostgreSQL
with `-m immediate` and starts it again. With `--nodes N` livemart runs as
a cluster of N nodes on loopback: each request goes to a random live node,
and each kill hits a random node (the owner of the hot product as often as
any other), which comes back as a new incarnation of its node id. Every request's outcome is
recorded: definite (a 2xx or 4xx) or unknown (no answer, or a 5xx).
Unknowns are retried with the same Idempotency-Key and body until they are
definite. Then the checker proves, from the database and the replies:

- every acknowledged order exists, with its items and totals;
- no stock is negative and every product's ledger balances
  (stock + held + sold = units ever stocked);
- one outcome per key: every definite reply of a key is the same, and the
  orders in the database are exactly those some 201 announced;
- every acknowledged bid and drop purchase is durable;
- while PostgreSQL is away nothing is acknowledged, a request answers 503
  with Retry-After within a second, and writes are served again within a
  few seconds of its return, without restarting livemart.

  crash_harness.py --binary build/app/livemart [--kills N] [--outages N] [--nodes N] [--seed N]

Loopback only; every loop is bounded in time and count. Exits 1 on any
violation, printing the figures either way.
"""

import argparse
import http.client
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PASSWORD = "correct horse battery staple"


def log(*args):
    print("crash:", *args, flush=True)


# ---------------------------------------------------------------- PostgreSQL

class Cluster:
    """A private cluster on a unix socket, through scripts/pg.sh."""

    def __init__(self, workdir):
        self.data = os.path.join(workdir, "data")
        self.sock = os.path.join(workdir, "sock")
        self.log = os.path.join(workdir, "postgres.log")

    def _pg(self, call):
        subprocess.run(["bash", "-c", f'source "{ROOT}/scripts/pg.sh" && {call}'], check=True,
                       stdout=subprocess.DEVNULL)

    def init_and_start(self):
        self._pg(f'pg_init "{self.data}" && pg_start "{self.data}" "{self.sock}" "{self.log}" '
                 f'&& pg_createdb "{self.sock}" livemart')

    def url(self):
        out = subprocess.run(["bash", "-c", f'source "{ROOT}/scripts/pg.sh" && pg_conninfo "{self.sock}" livemart'],
                             check=True, capture_output=True, text=True)
        return out.stdout.strip()

    def ctl(self, *args):
        bindir = os.environ.get("LIVEMART_PG_BINDIR", "/usr/lib/postgresql/15/bin")
        cmd = [f"{bindir}/pg_ctl", "-D", self.data, "-l", self.log, "-w"] + list(args)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/")

    def stop_immediate(self):
        self.ctl("-m", "immediate", "stop")

    def start(self):
        self.ctl("-o", f"-c listen_addresses='' -k {self.sock}", "start")

    def stop(self):
        try:
            self.ctl("-m", "fast", "stop")
        except subprocess.CalledProcessError:
            pass

    def sql(self, statement):
        out = subprocess.run(["psql", self.url(), "-XAtq", "-F", "\t", "-c", statement], check=True,
                             capture_output=True, text=True)
        return [line.split("\t") for line in out.stdout.splitlines() if line]


# ---------------------------------------------------------------- livemart

class Server:
    def __init__(self, binary, url, workdir, keys=None, node=None, seeds=lambda: []):
        self.binary, self.url, self.workdir = binary, url, workdir
        self.keys = keys or "crash:" + secrets.token_hex(32)
        self.node, self.seeds = node, seeds  # a cluster's node id, and where its live peers' cluster ports are
        self.cluster_address = None
        self.proc = None
        self.port = None
        self.lock = threading.Lock()
        self.starts = 0

    def env(self):
        env = dict(os.environ, DATABASE_URL=self.url, LIVEMART_AUTH_JWT_KEYS=self.keys)
        env.pop("LIVEMART_FAILPOINTS", None)
        return env

    def flags(self):
        flags = [self.binary, "serve", "--http.port=0", "--http.access_log=false",
                 "--database.reconnect_interval_ms=100", "--auth.login_attempts_per_address_max=100000",
                 "--auth.registrations_per_address_max=100000", "--auth.login_attempts_per_account_max=100000"]
        if self.node is not None:
            # Fast beats, so that a killed node's slots move within a second.
            flags += ["--cluster.enabled=true", f"--node.id={self.node}", "--cluster.port=0", "--cluster.slots=1024",
                      "--cluster.heartbeat_ms=200", "--cluster.member_ttl_ms=4000", "--cluster.handoff_drain_ms=200"]
            seeds = self.seeds()
            if seeds:
                flags.append("--cluster.seeds=" + ",".join(seeds))
        return flags

    def start(self):
        name = f"livemart.{self.starts}.log" if self.node is None else f"node-{self.node}.{self.starts}.log"
        out = open(os.path.join(self.workdir, name), "w")
        self.starts += 1
        proc = subprocess.Popen(self.flags(), env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 30
        port = None
        while time.time() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            out.write(line)
            if '"msg":"listening"' in line:
                listening = json.loads(line)
                port = listening["port"]
                self.cluster_address = listening.get("cluster")
                break
        if port is None:
            proc.kill()
            raise RuntimeError("livemart did not start; see " + out.name)
        # Keep draining its output so it never blocks on a full pipe.
        threading.Thread(target=lambda: [out.write(l) for l in proc.stdout], daemon=True).start()
        with self.lock:
            self.proc, self.port = proc, port

    def kill(self):
        with self.lock:
            proc = self.proc
            self.port = None
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def stop(self):
        with self.lock:
            proc = self.proc
        if proc and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                return proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                return -9
        return 0

    def current_port(self):
        with self.lock:
            return self.port if self.proc is not None and self.proc.poll() is None else None

    def end(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()


class Nodes:
    """A cluster of livemart nodes that looks like one Server to the sale:
    requests go to a random live node, a kill hits a random node, and the
    next start brings that node back (a new incarnation of its node id)."""

    def __init__(self, binary, url, workdir, count, rng):
        keys = "crash:" + secrets.token_hex(32)  # every node signs and checks tokens with it
        self.binary, self.rng = binary, rng
        self.nodes = [Server(binary, url, workdir, keys, node=i + 1, seeds=self.seeds) for i in range(count)]
        self.killed = None

    def seeds(self):
        return [n.cluster_address for n in self.nodes if n.current_port() is not None and n.cluster_address]

    def env(self):
        return self.nodes[0].env()

    def start(self):
        if self.killed is not None:
            self.killed.start()
            self.killed = None
            return
        for n in self.nodes:
            n.start()

    def kill(self):
        self.killed = self.rng.choice(self.nodes)
        self.killed.kill()

    def stop(self):
        codes = [n.stop() for n in self.nodes]
        return next((c for c in codes if c != 0), 0)

    def current_port(self):
        ports = [p for p in (n.current_port() for n in self.nodes) if p is not None]
        return random.choice(ports) if ports else None

    def end(self):
        for n in self.nodes:
            n.end()


def call(port, method, path, body=None, token=None, key=None, timeout=10):
    """One request; (status, headers, body) or None when there was no answer."""
    if port is None:
        return None
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    if key:
        headers["Idempotency-Key"] = key
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        c.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        r = c.getresponse()
        data = r.read().decode()
        c.close()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    except (OSError, http.client.HTTPException):
        return None


def must(server, method, path, body=None, token=None, want=(200, 201, 204)):
    for _ in range(100):
        r = call(server.current_port(), method, path, body, token)
        if r and r[0] in want:
            return json.loads(r[2]) if r[2] else None
        if r and r[0] < 500:
            raise RuntimeError(f"{method} {path}: {r[0]} {r[2]}")
        time.sleep(0.1)  # set-up retries while the server is busy: bounded
    raise RuntimeError(f"{method} {path}: no answer")


# ---------------------------------------------------------------- the sale

class Ledger:
    """Every request the load made, and what became of it."""

    def __init__(self):
        self.lock = threading.Lock()
        self.ops = []  # dicts: kind, method, path, body, token, key, replies [(status, body)], definite
        self.during_outage = []  # (sent_at, status) of requests sent while PostgreSQL was away

    def add(self, op):
        with self.lock:
            self.ops.append(op)


def build_marketplace(server, cluster, buyers_n):
    admin_email = f"admin.{secrets.token_hex(4)}@example.com"
    subprocess.run([server.binary, "create-admin", admin_email], env=dict(server.env(), LIVEMART_ADMIN_PASSWORD=PASSWORD),
                   check=True, stdout=subprocess.DEVNULL)
    admin = must(server, "POST", "/auth/login", {"email": admin_email, "password": PASSWORD})["access_token"]

    def user(prefix):
        email = f"{prefix}.{secrets.token_hex(4)}@example.com"
        must(server, "POST", "/auth/register", {"email": email, "password": PASSWORD, "display_name": prefix})
        login = must(server, "POST", "/auth/login", {"email": email, "password": PASSWORD})
        return {"token": login["access_token"], "id": login["user_id"]}

    seller = user("seller")
    shop = must(server, "POST", "/sellers/apply", {"shop_name": "Crash " + secrets.token_hex(3), "contact_email": "s@example.com",
                                                  "country": "DE", "business_type": "company"}, seller["token"])
    must(server, "POST", f"/admin/sellers/{shop['id']}/approve", None, admin)
    category = must(server, "POST", "/admin/categories", {"name": "Crash " + secrets.token_hex(3)}, admin)["id"]

    def product(title, stock, price):
        return must(server, "POST", "/products", {"category_id": category, "title": title, "price_minor": price,
                                                 "currency": "EUR", "stock": stock, "status": "active"}, seller["token"])["id"]

    hot = product("Hot", 150, 1000)
    cold = [product(f"Cold {i}", 40, 2000 + i) for i in range(6)]
    drop_product = product("Drop", 60, 3000)
    auction_product = product("Auction", 1, 5000)
    stream = must(server, "POST", "/streams", {"title": "Crash show", "featured": [drop_product, auction_product],
                                               "start_now": True}, seller["token"])["stream"]["id"]
    drop = must(server, "POST", f"/streams/{stream}/drops", {"product_id": drop_product, "quantity": 40, "duration_s": 3600,
                                                            "per_buyer_limit": 3}, seller["token"])["id"]
    auction = must(server, "POST", f"/streams/{stream}/auctions", {"product_id": auction_product, "starting_price_minor": 100,
                                                                  "duration_s": 3600}, seller["token"])["id"]
    buyers = []
    for _ in range(buyers_n):
        b = user("buyer")
        b["address"] = must(server, "POST", "/users/addresses", {"name": "Ada", "line1": "Unter den Linden 1", "city": "Berlin",
                                                                "postal_code": "10115", "country": "DE"}, b["token"])["id"]
        buyers.append(b)
    return {"seller": seller, "hot": hot, "cold": cold, "stream": stream, "drop": drop, "auction": auction,
            "buyers": buyers, "products": [hot, drop_product, auction_product] + cold}


def make_op(rng, m, bid_floor):
    b = rng.choice(m["buyers"])
    key = "crash-" + secrets.token_hex(8)
    roll = rng.random()
    if roll < 0.35:
        body = {"items": [{"product_id": m["hot"], "quantity": 1}], "address_id": b["address"]}
        return {"kind": "buy_hot", "method": "POST", "path": "/orders", "body": body, "token": b["token"], "key": key}
    if roll < 0.55:
        body = {"items": [{"product_id": rng.choice(m["cold"]), "quantity": rng.randint(1, 2)}], "address_id": b["address"]}
        return {"kind": "buy_cold", "method": "POST", "path": "/orders", "body": body, "token": b["token"], "key": key}
    if roll < 0.70:
        a, c = rng.sample(m["cold"], 2)
        body = {"items": [{"product_id": m["hot"], "quantity": 1}, {"product_id": c, "quantity": 1}],
                "address_id": b["address"]}
        return {"kind": "buy_pair", "method": "POST", "path": "/orders", "body": body, "token": b["token"], "key": key}
    if roll < 0.85:
        path = f"/streams/{m['stream']}/drops/{m['drop']}/buy"
        return {"kind": "drop", "method": "POST", "path": path, "body": {"address_id": b["address"], "quantity": 1},
                "token": b["token"], "key": key}
    if roll < 0.95:
        amount = bid_floor[0] + rng.randint(1, 5) * 100
        bid_floor[0] = amount
        path = f"/streams/{m['stream']}/auctions/{m['auction']}/bids"
        return {"kind": "bid", "method": "POST", "path": path, "body": {"amount_minor": amount}, "token": b["token"],
                "key": None}
    path = f"/products/{rng.choice(m['cold'])}/restock"
    return {"kind": "restock", "method": "POST", "path": path, "body": {"delta": 1, "reason": "crash harness"},
            "token": m["seller"]["token"], "key": None}


def run_op(server, op, ledger, outage):
    sent = time.time()
    r = call(server.current_port(), op["method"], op["path"], op["body"], op["token"], op["key"])
    status = r[0] if r else None
    op.setdefault("replies", []).append((status, r[2] if r else None, r[1].get("retry-after") if r else None))
    op["definite"] = status is not None and status < 500
    if outage.is_set() and outage.sent_after(sent):
        with ledger.lock:
            ledger.during_outage.append((sent, status, r[1].get("retry-after") if r else None))
    return status


class Outage:
    def __init__(self):
        self.flag = threading.Event()
        self.since = None

    def begin(self):
        self.since = time.time()
        self.flag.set()

    def end(self):
        self.flag.clear()

    def is_set(self):
        return self.flag.is_set()

    def sent_after(self, t):
        return self.since is not None and t >= self.since


def load(server, m, ledger, stop, outage, seed):
    rng = random.Random(seed)
    bid_floor = [100]
    while not stop.is_set():
        if server.current_port() is None:
            time.sleep(0.01)  # livemart is being restarted: no request to send
            continue
        op = make_op(rng, m, bid_floor)
        ledger.add(op)
        run_op(server, op, ledger, outage)


# ---------------------------------------------------------------- the checker

def check(cluster, ledger, m, figures):
    violations = []

    def fail(text):
        violations.append(text)
        log("VIOLATION:", text)

    orders_announced = {}
    for op in ledger.ops:
        definite = [(s, b) for (s, b, _) in op.get("replies", []) if s is not None and s < 500]
        if op["key"] and len({(s, b) for (s, b) in definite}) > 1:
            fail(f"key {op['key']} got different definite replies: {definite}")
        for s, b in definite:
            if s == 201 and op["kind"] != "bid":
                for o in json.loads(b)["orders"]:
                    orders_announced[o["id"]] = o
    # Every acknowledged order exists with its items and totals.
    rows = {r[0]: r for r in cluster.sql(
        "SELECT o.id, o.total_minor, (SELECT count(*) FROM order_items i WHERE i.order_id = o.id) FROM orders o")}
    for oid, o in orders_announced.items():
        row = rows.get(oid)
        if row is None:
            fail(f"acknowledged order {oid} is not in the database")
        elif int(row[1]) != o["total_minor"] or int(row[2]) != len(o["items"]):
            fail(f"order {oid} differs: total {row[1]} vs {o['total_minor']}, items {row[2]} vs {len(o['items'])}")
    # One order per key: nothing in the database that no reply announced.
    buyers = ",".join(b["id"] for b in m["buyers"])
    stray = [r[0] for r in cluster.sql(f"SELECT id FROM orders WHERE buyer_id IN ({buyers})") if r[0] not in orders_announced]
    for oid in stray:
        fail(f"order {oid} exists but no acknowledged reply announced it (a duplicate or a lost 201)")
    # Stock never negative; every ledger balances.
    for r in cluster.sql("SELECT p.id, p.stock, p.reserved, p.sold, "
                         "(SELECT coalesce(sum(quantity), 0) FROM stock_ledger l WHERE l.product_id = p.id AND l.kind = 'restock') "
                         "FROM products p"):
        pid, stock, reserved, sold, stocked = r[0], int(r[1]), int(r[2]), int(r[3]), int(r[4])
        if min(stock, reserved, sold) < 0:
            fail(f"product {pid}: negative stock {stock}/{reserved}/{sold}")
        if stock + reserved + sold != stocked:
            fail(f"product {pid}: ledger does not balance: {stock} + {reserved} + {sold} != {stocked}")
    # Acknowledged bids and drop purchases are durable.
    bids = {(r[0], r[1]) for r in cluster.sql(f"SELECT bidder_id, amount_minor FROM auction_bids WHERE auction_id = {m['auction']}")}
    buyer_ids = {b["token"]: b["id"] for b in m["buyers"]}
    for op in ledger.ops:
        if op["kind"] == "bid" and any(s == 201 for (s, _, _) in op.get("replies", [])):
            if (buyer_ids[op["token"]], str(op["body"]["amount_minor"])) not in bids:
                fail(f"acknowledged bid {op['body']['amount_minor']} is not in the database")
    drop_orders = {r[0] for r in cluster.sql(f"SELECT id FROM orders WHERE drop_id = {m['drop']}")}
    for op in ledger.ops:
        if op["kind"] == "drop":
            for s, b, _ in op.get("replies", []):
                if s == 201:
                    for o in json.loads(b)["orders"]:
                        if o["id"] not in drop_orders:
                            fail(f"acknowledged drop purchase {o['id']} is not a drop order")
    # During outages: nothing acknowledged, and 503s say when to retry.
    for sent, status, retry_after in ledger.during_outage:
        if status is not None and status < 300:
            fail(f"a request sent during an outage got {status}")
        if status in (429, 503) and not retry_after:
            fail(f"a {status} during an outage had no Retry-After")
    figures["orders_acknowledged"] = len(orders_announced)
    return violations


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(ROOT, "build/app/livemart"))
    ap.add_argument("--kills", type=int, default=100)
    ap.add_argument("--outages", type=int, default=20)
    ap.add_argument("--buyers", type=int, default=12)
    ap.add_argument("--workers", type=int, default=6)
    ap.add_argument("--nodes", type=int, default=1, help="a cluster of this many nodes (1: a single server)")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    args = ap.parse_args()
    rng = random.Random(args.seed)
    log(f"seed {args.seed}, {args.kills} kills, {args.outages} outages, {args.nodes} node(s)")
    workdir = tempfile.mkdtemp(prefix="livemart-crash.")
    os.chmod(workdir, 0o755)
    cluster = Cluster(workdir)
    server = None
    figures = {"kills": 0, "outages": 0}
    started = time.time()
    try:
        cluster.init_and_start()
        subprocess.run([args.binary, "migrate"], env=dict(os.environ, DATABASE_URL=cluster.url()), check=True,
                       stdout=subprocess.DEVNULL)
        if args.nodes > 1:
            server = Nodes(args.binary, cluster.url(), workdir, args.nodes, rng)
        else:
            server = Server(args.binary, cluster.url(), workdir)
        server.start()
        m = build_marketplace(server, cluster, args.buyers)
        ledger, stop, outage = Ledger(), threading.Event(), Outage()
        workers = [threading.Thread(target=load, args=(server, m, ledger, stop, outage, args.seed + i), daemon=True)
                   for i in range(args.workers)]
        for w in workers:
            w.start()
        # Kills at random moments, each followed by a restart.
        for _ in range(args.kills):
            time.sleep(rng.uniform(0.2, 1.0))  # a random moment in the sale, not a wait for an effect
            server.kill()
            figures["kills"] += 1
            server.start()
        # Outages: PostgreSQL stopped at once, started again.
        resumed = []
        first_503 = []
        for _ in range(args.outages):
            time.sleep(rng.uniform(0.3, 1.0))  # a random moment in the sale
            cluster.stop_immediate()
            outage.begin()
            figures["outages"] += 1
            # A request answers 503 with Retry-After within a second.
            t0 = time.time()
            probe = None
            while time.time() - t0 < 5:
                probe = call(server.current_port(), "POST", f"/products/{m['cold'][0]}/restock",
                             {"delta": 1, "reason": "probe"}, m["seller"]["token"], timeout=2)
                if probe and probe[0] == 503:
                    break
            first_503.append(time.time() - t0)
            if not probe or probe[0] != 503 or not probe[1].get("retry-after"):
                log("VIOLATION: no 503 with Retry-After while the database was away:", probe)
                figures["outage_probe_failures"] = figures.get("outage_probe_failures", 0) + 1
            time.sleep(rng.uniform(0.5, 1.5))  # how long the database stays away
            outage.end()
            cluster.start()
            t1 = time.time()
            served = False
            while time.time() - t1 < 15:
                probe = call(server.current_port(), "POST", f"/products/{m['cold'][0]}/restock",
                             {"delta": 1, "reason": "probe"}, m["seller"]["token"], timeout=2)
                if probe and probe[0] == 200:
                    served = True
                    break
                time.sleep(0.02)  # bounded retry pacing while the connections come back
            resumed.append(time.time() - t1 if served else None)
        stop.set()
        for w in workers:
            w.join(timeout=30)
        # Every unknown outcome is retried with the same key and body until definite.
        unknown = [op for op in ledger.ops if not op.get("definite")]
        figures["unknown"] = len(unknown)
        resolved = 0
        for op in unknown:
            for _ in range(50):
                if run_op(server, op, ledger, outage) is not None and op["definite"]:
                    resolved += 1
                    break
                time.sleep(0.1)  # bounded retry pacing
        figures["unknown_resolved"] = resolved
        # Every key asked once more: its reply must be the one it had.
        replayed = 0
        for op in ledger.ops:
            if op["key"] and op.get("definite"):
                run_op(server, op, ledger, outage)
                replayed += 1
        figures["keys_replayed"] = replayed
        figures["requests"] = sum(len(op.get("replies", [])) for op in ledger.ops)
        figures["operations"] = len(ledger.ops)
        exit_code = server.stop()
        figures["exit_code"] = exit_code
        figures["first_503_s_max"] = round(max(first_503), 3) if first_503 else None
        figures["writes_resumed_s_max"] = (round(max(r for r in resumed if r is not None), 3)
                                           if any(r is not None for r in resumed) else None)
        violations = check(cluster, ledger, m, figures)
        if resolved != len(unknown):
            violations.append(f"{len(unknown) - resolved} unknown outcomes never became definite")
        if any(r is None for r in resumed):
            violations.append("writes were not served again within 15 s of the database's return")
        if figures.get("first_503_s_max") is not None and figures["first_503_s_max"] > 1.0:
            violations.append(f"the first 503 came {figures['first_503_s_max']} s into an outage")
        if figures.get("outage_probe_failures"):
            violations.append(f"{figures['outage_probe_failures']} outages without a 503 and Retry-After")
        if exit_code != 0:
            violations.append(f"livemart exited with {exit_code} on SIGTERM")
        figures["violations"] = len(violations)
        figures["seconds"] = round(time.time() - started, 1)
        print(json.dumps(figures, sort_keys=True), flush=True)
        for v in violations:
            log("VIOLATION:", v)
        return 1 if violations else 0
    finally:
        if server is not None:
            server.end()
        cluster.stop()
        if os.environ.get("LIVEMART_KEEP_CRASH_DIR"):
            log("kept", workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
