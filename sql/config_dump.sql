-- pg_dump keeps the registry, the markers, the queue and the bookkeeping:
-- every configuration table is marked with pg_extension_config_dump.
SELECT unnest(extconfig)::regclass AS config_table, unnest(extcondition) AS condition
  FROM pg_extension WHERE extname = 'gdpr' ORDER BY 1::text;
