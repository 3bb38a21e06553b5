# Page section "Veeam Infrastructure Appliances": ports every appliance needs
# (hardened repository, proxy, ...) besides those of the role it plays.

flow "appliance-updater" {
  section     = "Veeam Infrastructure Appliances: backup server → Veeam Infrastructure Appliance TCP 443"
  from        = ["backup_server"]
  to          = ["infrastructure_appliance"]
  protocol    = "tcp"
  ports       = [443]
  description = "Veeam Backup & Replication synchronizes Veeam Updater settings on components deployed from the Veeam Infrastructure Appliance ISO."
}

flow "appliance-host-management" {
  section     = "Veeam Infrastructure Appliances: PC where web UI is open → Veeam Infrastructure Appliance TCP 10443"
  from        = ["web_ui_client"]
  to          = ["infrastructure_appliance"]
  protocol    = "tcp"
  ports       = [10443]
  description = "Remote access: Host Management console of components deployed from the Veeam Infrastructure Appliance ISO."
}
