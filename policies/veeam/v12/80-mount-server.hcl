# Seed section "Recovery Components: Mount Server". The mount server is a
# Microsoft Windows server and gets the "Microsoft Windows Server" ports
# (windows_server); its connections to VM guests are in 70-guest-os.hcl
# ("guest interaction proxy or mount server").

flow "mount-service" {
  section     = "Mount Server"
  from        = ["backup_server"]
  to          = ["mount_server"]
  protocol    = "tcp"
  ports       = [6170]
  description = "Used for communication with the local or remote Veeam Mount Service."
}

flow "mount-backup-service" {
  section     = "Mount Server"
  from        = ["mount_server", "console"]
  to          = ["backup_server"]
  protocol    = "tcp"
  ports       = [9401]
  description = "Used for communication with the Veeam Backup Service, from the mount server (or the machine running the Veeam Backup & Replication console)."
}

flow "mount-repository" {
  section     = "Mount Server"
  from        = ["mount_server", "console"]
  to          = ["backup_repository"]
  protocol    = "tcp"
  ports       = [local.data_mover_ports]
  description = "Default range of ports used for communication with the backup repository, from the mount server (or the machine running the Veeam Backup & Replication console)."
}

flow "mount-helper-appliance-ssh" {
  section     = "Mount Server"
  from        = ["mount_server"]
  to          = ["helper_appliance"]
  protocol    = "tcp"
  ports       = [22]
  description = "Default SSH port used as a control channel to the helper appliance."
}

flow "mount-helper-appliance-data" {
  section     = "Mount Server"
  from        = ["mount_server"]
  to          = ["helper_appliance"]
  protocol    = "tcp"
  ports       = [local.data_mover_ports]
  description = "Default range of ports used for communication with the helper appliance."
}
