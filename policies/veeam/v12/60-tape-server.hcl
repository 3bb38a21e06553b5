# Seed section "Tape Server". The tape server is a Microsoft Windows server and
# gets the "Microsoft Windows Server" ports (windows_server).

flow "tape-rpc" {
  section     = "Tape Server"
  from        = ["backup_server"]
  to          = ["tape_server"]
  protocol    = "tcp"
  ports       = [6166]
  description = "Control port for RPC calls."
}

flow "tape-data-transfer" {
  section     = "Tape Server"
  from        = ["backup_server"]
  to          = ["tape_server"]
  protocol    = "tcp"
  ports       = [local.data_mover_ports]
  description = "Default range of ports used as data transmission channels; one port of the range is assigned to every TCP connection a job uses."
}

flow "tape-to-repository" {
  section     = "Tape Server"
  from        = ["tape_server"]
  to          = ["backup_repository", "gateway_server", "hyperv_host", "offhost_proxy", "vmware_proxy"]
  protocol    = "tcp"
  ports       = [local.data_mover_ports]
  description = "Data transmission channels from the tape server to the backup repository, gateway server or proxy server, on-host (Hyper-V server) or off-host (the seed refers to the Microsoft Windows Server ports; the data mover range is the part of them this direction uses)."
}
