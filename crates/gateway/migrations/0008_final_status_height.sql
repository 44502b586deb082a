-- box-gateway schema, version 8: the recorded final statuses by height, so
-- that a start finds the highest height it recorded one at with one indexed
-- lookup (crate::finals::recorded_to). A replica that starts below it (a
-- gateway that bootstrapped again at a lower height than it had verified)
-- shows the recorded final status where it is newer than its live state.
CREATE INDEX final_status_height ON final_status (height);
