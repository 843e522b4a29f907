-- Make every member of the extension pgbank a plain object of its schema,
-- so that pg_dump (which leaves out extension members) dumps them; run in a
-- scratch database only. First record what only the extension knows: its
-- version and which tables pg_dump would keep the data of.
SELECT 'extension ' || e.extname || ' ' || e.extversion
	|| ' config ' || coalesce(array_to_string(ARRAY(
		SELECT c::regclass::text || ' ' || coalesce(w, '')
		  FROM unnest(e.extconfig, e.extcondition) AS x(c, w)
		 ORDER BY 1), ', '), '')
  FROM pg_extension e WHERE e.extname = 'pgbank';
DO $$
DECLARE
	o record;
BEGIN
	FOR o IN
		SELECT i.type, i.identity
		  FROM pg_depend d, pg_identify_object(d.classid, d.objid, 0) i
		 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
		   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pgbank')
		 ORDER BY i.type, i.identity
	LOOP
		EXECUTE format('ALTER EXTENSION pgbank DROP %s %s',
			CASE o.type WHEN 'composite type' THEN 'type' ELSE o.type END, o.identity);
	END LOOP;
END
$$;
