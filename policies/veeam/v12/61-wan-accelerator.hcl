# Seed section "WAN Accelerator": WAN accelerators used by backup copy and
# replication jobs. A WAN accelerator is a Microsoft Windows server and gets
# the "Microsoft Windows Server" ports (windows_server).

flow "wan-installer" {
  section     = "WAN Accelerator"
  from        = ["backup_server"]
  to          = ["wan_accelerator"]
  protocol    = "tcp"
  ports       = [6160]
  description = "Default port used by the Veeam Installer Service on the WAN accelerator (source and target)."
}

flow "wan-data-mover" {
  section     = "WAN Accelerator"
  from        = ["backup_server"]
  to          = ["wan_accelerator"]
  protocol    = "tcp"
  ports       = [6162]
  description = "Default port used by the Veeam Data Mover Service on the WAN accelerator (source and target)."
}

flow "wan-rpc" {
  section     = "WAN Accelerator"
  from        = ["backup_server"]
  to          = ["wan_accelerator"]
  protocol    = "tcp"
  ports       = [6164]
  description = "Control port for RPC calls to the WAN accelerator (source and target)."
}

flow "wan-to-repository" {
  section     = "WAN Accelerator"
  from        = ["wan_accelerator"]
  to          = ["backup_repository", "gateway_server"]
  protocol    = "tcp"
  ports       = [local.data_mover_ports]
  description = "Default range of ports used as data transmission channels from the WAN accelerator to the backup repository (source and target), or to the gateway server that is the data mover of a repository without its own; one port of the range is assigned to every TCP connection a job uses."
}

flow "wan-peer-rpc" {
  section     = "WAN Accelerator"
  from        = ["wan_accelerator"]
  to          = ["wan_accelerator"]
  protocol    = "tcp"
  ports       = [6164]
  description = "Control port for RPC calls between WAN accelerators."
}

flow "wan-peer-data" {
  section     = "WAN Accelerator"
  from        = ["wan_accelerator"]
  to          = ["wan_accelerator"]
  protocol    = "tcp"
  ports       = [6165]
  description = "Default port for data transfer between WAN accelerators; it must be open in the firewall between the sites where WAN accelerators are deployed."
}
