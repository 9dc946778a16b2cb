// The viewer page of a live stream: everything on it comes from the
// stream's WebSocket (docs/api.md, "Live streams"). No build step.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const streamId = location.pathname.split("/").filter(Boolean)[1];
  const token = localStorage.getItem("livemart_access_token") || "";
  const state = { seq: 0, stream: null, products: new Map(), drop: null, auction: null, addressId: "" };
  let socket = null;
  let retry = 500;

  const money = (minor, currency) =>
    minor == null ? "–" : new Intl.NumberFormat(undefined, { style: "currency", currency: currency || "EUR" }).format(minor / 100);
  const left = (at) => {
    const s = Math.max(0, Math.round((at - Date.now()) / 1000));
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  };
  const say = (text) => { $("message").textContent = text; };

  function shown() {
    const s = state.stream;
    if (!s) return null;
    return state.products.get(s.pinned_product_id) ||
      (state.drop && state.drop.active && state.products.get(state.drop.product_id)) ||
      state.products.get(s.featured[0]) || null;
  }

  function render() {
    const s = state.stream;
    if (s) {
      $("title").textContent = s.title;
      $("status").textContent = s.status;
      $("status").className = "badge " + s.status;
    }
    const p = shown();
    if (p) {
      $("product-title").textContent = p.title;
      $("price").textContent = money(p.price_minor, p.currency);
      $("stock").textContent = String(p.available);
    }
    const d = state.drop;
    $("drop").hidden = !(d && d.active);
    if (d) {
      $("drop-remaining").textContent = String(d.remaining);
      $("drop-quantity").textContent = String(d.quantity);
      const dp = state.products.get(d.product_id);
      $("drop-price").textContent = money(d.price_minor != null ? d.price_minor : dp && dp.price_minor, dp && dp.currency);
    }
    const a = state.auction;
    $("auction").hidden = !(a && a.open);
    if (a) {
      $("bid-price").textContent = a.bid_count ? money(a.price_minor, a.currency) : money(a.starting_price_minor, a.currency) + " to start";
      $("bid-leader").textContent = a.leader_name || (a.bid_count ? "someone" : "nobody yet");
      $("bid-button").textContent = "Bid " + money(a.next_minimum_minor, a.currency);
    }
  }

  function tick() {
    if (state.drop && state.drop.active) $("drop-countdown").textContent = left(state.drop.ends_at_ms);
    if (state.auction && state.auction.open) $("auction-countdown").textContent = left(state.auction.ends_at_ms);
  }
  setInterval(tick, 250);

  function resync() { socket && socket.send(JSON.stringify({ type: "resync" })); }

  function onMessage(msg) {
    // seq counts the events that cannot be replaced; a jump means one was
    // missed, and state events never carry a seq ahead of ours.
    if (msg.type !== "snapshot" && msg.type !== "reply" && msg.type !== "pong" && typeof msg.seq === "number") {
      const isEvent = !["product", "viewers"].includes(msg.type);
      if ((isEvent && msg.seq !== state.seq + 1) || (!isEvent && msg.seq > state.seq)) return resync();
      if (isEvent) state.seq = msg.seq;
    }
    switch (msg.type) {
      case "snapshot":
        state.seq = msg.seq;
        state.stream = msg.stream;
        state.products = new Map(msg.products.map((p) => [p.id, p]));
        state.drop = msg.drop;
        state.auction = msg.auction;
        $("viewers").textContent = String(msg.stream.viewers);
        break;
      case "product": {
        state.products.set(msg.product.id, msg.product); // in order per connection: the latest wins
        if (msg.drop) state.drop = msg.drop;
        break;
      }
      case "viewers": $("viewers").textContent = String(msg.viewers); break;
      case "drop_started": case "drop_ended": state.drop = msg.drop; break;
      case "pinned": case "unpinned": if (state.stream) state.stream.pinned_product_id = msg.pin.product_id; break;
      case "auction_started": case "bid": case "auction_extended": case "auction_closed": state.auction = msg.auction; break;
      case "stream_started": case "stream_updated": case "stream_ended": state.stream = msg.stream; break;
      case "reply": say(msg.status < 300 ? "Done." : (msg.body && msg.body.detail) || "Refused."); break;
    }
    render();
    tick();
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(`${scheme}//${location.host}/streams/${streamId}/ws`);
    socket.onopen = () => { retry = 500; socket.send(JSON.stringify(token ? { type: "hello", token } : { type: "hello" })); };
    socket.onmessage = (e) => { try { onMessage(JSON.parse(e.data)); } catch (err) { console.error(err); } };
    socket.onclose = (e) => {
      $("status").textContent = e.code === 4404 ? "no such stream" : "reconnecting";
      if (e.code === 4404 || e.code === 4401) return say(e.reason);
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    };
  }

  $("bid-button").onclick = () => {
    if (!token) return say("Sign in to bid.");
    const a = state.auction;
    if (a) socket.send(JSON.stringify({ type: "bid", ref: "bid", auction_id: a.id, amount_minor: a.next_minimum_minor }));
  };
  $("drop-buy").onclick = () => {
    if (!token) return say("Sign in to buy.");
    const address = localStorage.getItem("livemart_address_id");
    if (!address) return say("Add a shipping address first.");
    const key = (crypto.randomUUID && crypto.randomUUID()) || String(Date.now()) + Math.random();
    if (!state.drop) return;
    socket.send(JSON.stringify({ type: "buy", ref: "buy", drop_id: state.drop.id, address_id: address, quantity: 1, key }));
  };
  connect();
})();
