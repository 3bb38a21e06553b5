# The deployment rows that every component table repeats (backup server →
# component on Windows: 445, 137, 139, 6160; on Linux: 22, 6160), encoded once for the
# derived roles windows_server / linux_server. 137 and 139 are legacy (SMB 1.0).

flow "deploy-windows" {
  section     = "Backup Proxies; Gateway Servers; Microsoft Windows/Linux-Based Backup Repositories; Tape Device Support Components; WAN Acceleration Components: backup server → component (Microsoft Windows) TCP 445, 137, 139"
  from        = ["backup_server"]
  to          = ["windows_server"]
  protocol    = "tcp"
  ports       = [445]
  description = "Deploying Veeam Backup & Replication components (not required if the Veeam Deployment Kit is installed)."
}

flow "deploy-windows-legacy" {
  section     = "Backup Proxies; Gateway Servers; Microsoft Windows/Linux-Based Backup Repositories; Tape Device Support Components; WAN Acceleration Components: backup server → component (Microsoft Windows) TCP 445, 137, 139"
  from        = ["backup_server"]
  to          = ["windows_server"]
  protocol    = "tcp"
  ports       = [137, 139]
  when        = var.legacy_netbios_ports
  description = "Legacy NetBIOS ports for deployment; not required unless components use SMB 1.0."
}

flow "deploy-installer" {
  section     = "Backup Proxies; Gateway Servers; Microsoft Windows/Linux-Based Backup Repositories; Mount Servers; Tape Device Support Components; WAN Acceleration Components: backup server → component TCP 6160"
  from        = ["backup_server"]
  to          = ["windows_server", "linux_server"]
  protocol    = "tcp"
  ports       = [6160]
  description = "Default port used by Veeam Installer Service."
}

flow "deploy-linux-ssh" {
  section     = "Backup Proxies; Gateway Servers; Microsoft Windows/Linux-Based Backup Repositories; Tape Device Support Components; WAN Acceleration Components: backup server → component (Linux) TCP 22"
  from        = ["backup_server"]
  to          = ["linux_server"]
  protocol    = "tcp"
  ports       = [22]
  description = "Default SSH port used as a control channel."
}
