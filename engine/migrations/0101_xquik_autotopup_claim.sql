-- Xquik auto top-up (engine/xquik/autotopup.py): when the last charge was claimed, so that two captures
-- crossing the threshold at once charge the card once (the claim is one conditional UPDATE).
ALTER TABLE xquik_accounts ADD COLUMN auto_topup_claimed_at timestamptz;
