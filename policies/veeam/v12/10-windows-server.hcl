# Seed section "Microsoft Windows Server": ports every Microsoft Windows server
# needs that is a backup infrastructure component or a machine processed with
# application-aware processing (and a Windows server acting as a file share).
# The destination cell lists the components: Hyper-V server/off-host backup
# proxy, backup repository, gateway server, mount server, WAN accelerator,
# tape server (see windows_server in 01-roles.hcl). The SMB3 server is a
# separate row with 6160 and 6162 only.

flow "windows-deploy" {
  section     = "Microsoft Windows Server"
  from        = ["backup_server"]
  to          = ["windows_server"]
  protocol    = "tcp"
  ports       = [445]
  description = "Required for deploying Veeam Backup & Replication components."
}

flow "windows-deploy-rpc" {
  section     = "Microsoft Windows Server"
  from        = ["backup_server"]
  to          = ["windows_server"]
  protocol    = "tcp"
  ports       = [135]
  when        = var.optional_port_135
  description = "Optional port 135 for faster deployment of Veeam Backup & Replication components (listed beside 445 on the English page; the Japanese table omits it)."
}

flow "windows-installer" {
  section     = "Microsoft Windows Server"
  from        = ["backup_server"]
  to          = ["windows_server"]
  protocol    = "tcp"
  ports       = [6160]
  description = "Default port used by the Veeam Installer Service."
}

flow "windows-data-mover" {
  section     = "Microsoft Windows Server"
  from        = ["backup_server"]
  to          = ["windows_server"]
  protocol    = "tcp"
  ports       = [6162]
  description = "Default port used by the Veeam Data Mover Service."
}

flow "windows-data-transfer" {
  section     = "Microsoft Windows Server"
  from        = ["backup_server"]
  to          = ["windows_server"]
  protocol    = "tcp"
  ports       = [local.data_mover_ports]
  description = "Default range of ports used as data transmission channels and for collecting log files; one port of the range is assigned to every TCP connection a job uses."
}

# The dynamic RPC range of this table goes to every Windows backup
# infrastructure component (windows_infrastructure). On a machine that is
# only processed with application-aware processing (guest_windows) it is the
# runtime process's range of the "VM Guest OS" table, whose footnote makes it
# unnecessary with default Windows Firewall settings: there it follows
# var.guest_dynamic_rpc like the guest OS and domain controller flows do.
flow "windows-dynamic-rpc" {
  section     = "Microsoft Windows Server"
  from        = ["backup_server"]
  to          = ["windows_infrastructure"]
  protocol    = "tcp"
  ports       = [local.dynamic_rpc_ports]
  description = "Dynamic RPC port range (Microsoft Windows 2008 and later)."
}

flow "windows-guest-dynamic-rpc" {
  section     = "Microsoft Windows Server"
  from        = ["backup_server"]
  to          = ["guest_windows"]
  protocol    = "tcp"
  ports       = [local.dynamic_rpc_ports]
  when        = var.guest_dynamic_rpc
  description = "Dynamic RPC port range (Microsoft Windows 2008 and later) on a machine processed with application-aware processing; not needed with default Windows Firewall settings, where Veeam creates a rule for the runtime process (see guest_dynamic_rpc)."
}

flow "smb3-installer" {
  section     = "Microsoft Windows Server"
  from        = ["backup_server"]
  to          = ["smb3_server"]
  protocol    = "tcp"
  ports       = [6160]
  description = "Default port used by the Veeam Installer Service on the SMB3 server."
}

flow "smb3-data-mover" {
  section     = "Microsoft Windows Server"
  from        = ["backup_server"]
  to          = ["smb3_server"]
  protocol    = "tcp"
  ports       = [6162]
  description = "Default port used by the Veeam Data Mover Service on the SMB3 server."
}
