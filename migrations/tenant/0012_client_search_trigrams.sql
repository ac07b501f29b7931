-- The back office's client search finds a name or an email by substring (lower(name) LIKE '%...%', see
-- modules/clients/list.go). Without an index that is a scan of the whole table (about 110 ms at 100,000 clients);
-- trigram indexes answer it from the index. The expressions are exactly the ones the search compares. pg_trgm is
-- installed in each cluster's public schema by the migrator before tenant migrations run (tenants.ClusterExtensions).
CREATE INDEX clients_name_trgm ON clients USING gin (lower(first_name || ' ' || last_name) public.gin_trgm_ops);
CREATE INDEX clients_email_trgm ON clients USING gin (email public.gin_trgm_ops);
