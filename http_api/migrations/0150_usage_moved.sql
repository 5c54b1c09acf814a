-- The BulkAPIs calls per day now live in the engine's one usage record (engine/migrations/0150_usage.sql,
-- metric api_calls:bulkapis): copied there, and the surface's own table dropped.
INSERT INTO usage_daily (account_id, day, metric, count)
SELECT account_id, day, 'api_calls:bulkapis', calls FROM bulkapis_usage_daily WHERE calls > 0
ON CONFLICT (account_id, metric, day) DO UPDATE SET count = usage_daily.count + excluded.count;
DROP TABLE bulkapis_usage_daily;
