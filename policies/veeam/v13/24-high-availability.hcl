# Page section "High Availability (HA) Cluster Components". The 5432 row is
# config-db-postgresql (22-databases-external.hcl).

flow "ha-postgresql-cluster" {
  section     = "High Availability (HA) Cluster Components: primary backup server with PostgreSQL configuration database → standby backup server TCP 8008, 8500"
  from        = ["ha_backup_server"]
  to          = ["ha_backup_server"]
  protocol    = "tcp"
  ports       = [8008, 8500]
  description = "PostgreSQL database service managing the High Availability cluster (either node may be the primary after a failover)."
}
