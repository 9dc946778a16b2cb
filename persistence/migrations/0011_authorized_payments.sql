-- Payments may be authorized at order time and captured when the seller
-- ships (payments.capture = on_ship).
ALTER TABLE payments DROP CONSTRAINT payments_status_check;
ALTER TABLE payments ADD CONSTRAINT payments_status_check
  CHECK (status IN ('created', 'processing', 'requires_action', 'succeeded', 'failed', 'canceled', 'authorized'));
