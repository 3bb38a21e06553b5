# Page section "Microsoft Hyper-V Components" (virtualization servers, off-host
# backup proxies, other components). Hyper-V server/off-host backup proxy → gateway
# server is gateway-data-mover (32-gateway-server.hcl).

flow "scvmm-control" {
  section     = "Microsoft Hyper-V Components: Virtualization Servers: backup server → SCVMM TCP 8732"
  from        = ["backup_server"]
  to          = ["scvmm"]
  protocol    = "tcp"
  ports       = [8732]
  description = "Communication with the VMM server."
}

flow "scvmm-deploy" {
  section     = "Microsoft Hyper-V Components: Virtualization Servers: backup server → SCVMM TCP 445, 137, 139, 6160"
  from        = ["backup_server"]
  to          = ["scvmm"]
  protocol    = "tcp"
  ports       = [445, 6160]
  description = "Deploying components (445; not required with the Veeam Deployment Kit) and Veeam Installer Service (6160)."
}

flow "scvmm-deploy-legacy" {
  section     = "Microsoft Hyper-V Components: Virtualization Servers: backup server → SCVMM TCP 445, 137, 139"
  from        = ["backup_server"]
  to          = ["scvmm"]
  protocol    = "tcp"
  ports       = [137, 139]
  when        = var.legacy_netbios_ports
  description = "Legacy NetBIOS ports (SMB 1.0 only)."
}

flow "scvmm-data-mover" {
  section     = "Microsoft Hyper-V Components: Virtualization Servers: backup server → SCVMM TCP 6162, 2500 to 3300"
  from        = ["backup_server"]
  to          = ["scvmm"]
  protocol    = "tcp"
  ports       = ["6162", local.data_mover_ports]
  description = "Default port used by Veeam Transport Service (Veeam Data Mover Service on Microsoft Windows); the port range 2500-3300 is used for failover if port 6162 is unavailable."
}

flow "hyperv-deploy" {
  section     = "Microsoft Hyper-V Components: Virtualization Servers / Off-Host Backup Proxies: backup server → Hyper-V server/off-host backup proxy TCP 445, 135, 137, 139"
  from        = ["backup_server"]
  to          = ["hyperv_host", "offhost_proxy"]
  protocol    = "tcp"
  ports       = [135, 445]
  description = "Deploying components (not required with the Veeam Deployment Kit)."
}

flow "hyperv-deploy-legacy" {
  section     = "Microsoft Hyper-V Components: Virtualization Servers / Off-Host Backup Proxies: backup server → Hyper-V server/off-host backup proxy TCP 445, 135, 137, 139"
  from        = ["backup_server"]
  to          = ["hyperv_host", "offhost_proxy"]
  protocol    = "tcp"
  ports       = [137, 139]
  when        = var.legacy_netbios_ports
  description = "Legacy NetBIOS ports (SMB 1.0 only)."
}

flow "hyperv-services" {
  section     = "Microsoft Hyper-V Components: Virtualization Servers / Off-Host Backup Proxies: backup server → Hyper-V server/off-host backup proxy TCP 6160, 6162, 2500 to 3300, 6163"
  from        = ["backup_server"]
  to          = ["hyperv_host", "offhost_proxy"]
  protocol    = "tcp"
  ports       = [6160, 6163, "6162", local.data_mover_ports]
  description = "Veeam Installer Service (6160), Veeam Transport Service (6162, failover 2500-3300), Veeam Hyper-V Integration Service (6163)."
}

flow "hyperv-vm-connection" {
  section     = "Microsoft Hyper-V Components: Virtualization Servers: backup server → Hyper-V server TCP 2179"
  from        = ["backup_server"]
  to          = ["hyperv_host"]
  protocol    = "tcp"
  ports       = [2179]
  description = "Virtual Machine Connection during Instant Recovery to Microsoft Hyper-V and recovery verification."
}

flow "hyperv-dynamic-rpc" {
  section     = "Microsoft Hyper-V Components: Virtualization Servers / Off-Host Backup Proxies: backup server → Hyper-V server/off-host backup proxy TCP 49152 to 65535"
  from        = ["backup_server"]
  to          = ["hyperv_host", "offhost_proxy"]
  protocol    = "tcp"
  ports       = [local.dynamic_rpc_ports]
  when        = var.dynamic_rpc
  description = "Dynamic RPC port range (Microsoft Windows 2008 and later); not needed with default Windows Firewall settings, where Veeam creates a rule for the runtime process."
}

flow "hyperv-restore" {
  section     = "Microsoft Hyper-V Components: Virtualization Servers: Microsoft Windows/Linux-based backup repository → Hyper-V server TCP 6162, 2500 to 3300"
  from        = ["backup_repository"]
  to          = ["hyperv_host"]
  protocol    = "tcp"
  ports       = ["6162", local.data_mover_ports]
  description = "Restore operations. Default port used by Veeam Transport Service (Veeam Data Mover Service on Microsoft Windows); the port range 2500-3300 is used for failover if port 6162 is unavailable."
}

flow "hyperv-replication" {
  section     = "Microsoft Hyper-V Components: Virtualization Servers: Hyper-V server/off-host backup proxy → Hyper-V server TCP 6162, 2500 to 3300"
  from        = ["hyperv_host", "offhost_proxy"]
  to          = ["hyperv_host"]
  protocol    = "tcp"
  ports       = ["6162", local.data_mover_ports]
  description = "Replication. Default port used by Veeam Transport Service (Veeam Data Mover Service on Microsoft Windows); the port range 2500-3300 is used for failover if port 6162 is unavailable."
}

flow "smb3-services" {
  section     = "Microsoft Hyper-V Components: Virtualization Servers: backup server → Microsoft SMB3 server TCP 6160, 6162, 2500-3300, 6163"
  from        = ["backup_server"]
  to          = ["smb3_server"]
  protocol    = "tcp"
  ports       = [6160, 6163, "6162", local.data_mover_ports]
  description = "Veeam Installer Service, Veeam Transport Service, Hyper-V Integration Service on the SMB3 server (Hyper-V storage)."
}

flow "offhost-file-vss" {
  section     = "Microsoft Hyper-V Components: Off-Host Backup Proxies: backup server → off-host backup proxy TCP 6210"
  from        = ["backup_server"]
  to          = ["offhost_proxy"]
  protocol    = "tcp"
  ports       = [6210]
  description = "Veeam Backup VSS Integration Service: VSS snapshot during SMB file share backup."
}

flow "scvmm-to-backup-server" {
  section     = "Microsoft Hyper-V Components: Other Backup Infrastructure Components: SCVMM → backup server TCP 443"
  from        = ["scvmm"]
  to          = ["backup_server"]
  protocol    = "tcp"
  ports       = [443]
  description = "Veeam PowerShell Management Service authorization on the SCVMM server."
}
