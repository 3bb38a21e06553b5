# VMware vSphere for Veeam Backup & Replication 12. The seed is the Hyper-V page;
# Veeam's v12 vSphere "Used Ports" page could not be obtained here, so these flows
# are the rows of the v13 page (shared/reference/veeam-used-ports-v13.en.md) that
# v12 shares: vCenter/ESXi connections, vPower NFS from ESXi hosts, VMware CDP.
# Each section names the v13 page's section and row (docs/policy.md, "v12 vSphere").
# VMware backup proxies also take every "backup proxy" row of the seed (30-, 40-,
# 41-, 60-*.hcl) and the Windows/Linux Server tables (windows_server, linux_server).

flow "vsphere-vcenter-from-backup-server" {
  section     = "v13 page, VMware vSphere Components: backup server → vCenter Server TCP 443"
  from        = ["backup_server"]
  to          = ["vcenter_server"]
  protocol    = "tcp"
  ports       = [443]
  description = "Connections to vCenter Server (direct; HTTP/HTTPS proxies are not supported)."
}

flow "vsphere-vcenter-from-proxy" {
  section     = "v13 page, VMware vSphere Components: backup proxy → vCenter Server TCP 443"
  from        = ["vmware_proxy"]
  to          = ["vcenter_server"]
  protocol    = "tcp"
  ports       = [443]
  description = "Default VMware web service port (customizable in vCenter settings)."
}

flow "vsphere-esxi-from-proxy" {
  section     = "v13 page, VMware vSphere Components: backup proxy → ESXi server TCP 902, 443"
  from        = ["vmware_proxy"]
  to          = ["esxi_host"]
  protocol    = "tcp"
  ports       = [443, 902]
  description = "902: VMware data transfer; 443: web service (not required if the vCenter connection is used)."
}

flow "vsphere-esxi-from-backup-server" {
  section     = "v13 page, VMware vSphere Components: backup server → ESXi server TCP 443, 902"
  from        = ["backup_server"]
  to          = ["esxi_host"]
  protocol    = "tcp"
  ports       = [443, 902]
  description = "Connections to the ESXi host and data transfer (also guest OS file recovery from replicas)."
}

flow "vpower-nfs-service" {
  section     = "v13 page, Mount Servers: backup server → mount server running vPower NFS Service TCP 6161"
  from        = ["backup_server"]
  to          = ["mount_server"]
  protocol    = "tcp"
  ports       = [6161]
  when        = contains(var.platforms, "vsphere")
  description = "Veeam vPower NFS Service (VMware vSphere only: Instant Recovery and SureBackup of VMware VMs)."
}

flow "vpower-nfs-from-esxi" {
  section     = "v13 page, Mount Servers: ESXi host → mount server running vPower NFS Service TCP UDP 111, 1058+ or 1063+, 2049+"
  from        = ["esxi_host"]
  to          = ["mount_server"]
  protocol    = ["tcp", "udp"]
  ports       = [111, 1058, 1063, 2049]
  description = "Port mapper (111), vPower NFS mount port (1058 on the backup server, 1063 on a separate Windows machine; portwarden opens both) and NFS (2049). If a port is occupied the succeeding ones are used: not opened."
}

flow "cdp-from-esxi" {
  section     = "v13 page, VMware CDP and Universal CDP Components: CDP Proxies: ESXi host (source) → CDP proxy (source) TCP 33032"
  from        = ["esxi_host"]
  to          = ["cdp_proxy"]
  protocol    = "tcp"
  ports       = [33032]
  description = "Transmission channel to the source CDP proxy."
}

flow "cdp-proxy-peer" {
  section     = "v13 page, VMware CDP and Universal CDP Components: CDP Proxies: CDP proxy (source) → CDP proxy (target) TCP 33033"
  from        = ["cdp_proxy"]
  to          = ["cdp_proxy"]
  protocol    = "tcp"
  ports       = [33033]
  description = "Transmission channel to the target CDP proxy."
}

flow "cdp-proxy-control" {
  section     = "v13 page, VMware CDP and Universal CDP Components: CDP Proxies: backup server → CDP proxy TCP 6182"
  from        = ["backup_server"]
  to          = ["cdp_proxy"]
  protocol    = "tcp"
  ports       = [6182]
  description = "Control channel."
}

flow "cdp-proxy-esxi" {
  section     = "v13 page, VMware CDP and Universal CDP Components: Virtualization Servers: CDP proxy → ESXi host TCP 902, 33032; CDP proxy → vCenter Server TCP 443"
  from        = ["cdp_proxy"]
  to          = ["esxi_host", "vcenter_server"]
  protocol    = "tcp"
  ports       = [443, 902, 33032]
  description = "Web service (443), VMware data transfer (902) and the transmission channel to the target ESXi host (33032)."
}

flow "cdp-backup-server-esxi" {
  section     = "v13 page, VMware CDP and Universal CDP Components: Virtualization Servers: backup server → ESXi host TCP 443, 33035"
  from        = ["backup_server"]
  to          = ["esxi_host"]
  protocol    = "tcp"
  ports       = [443, 33035]
  when        = var.cdp
  description = "Control channel (443) and I/O filter installation (33035)."
}

flow "cdp-coordinator" {
  section     = "v13 page, VMware CDP and Universal CDP Components: Backup Server: CDP proxy, ESXi host, vCenter Server → backup server TCP 33034"
  from        = ["cdp_proxy", "esxi_host", "vcenter_server"]
  to          = ["backup_server"]
  protocol    = "tcp"
  ports       = [33034]
  when        = var.cdp
  description = "Veeam CDP Coordinator Service."
}

flow "cdp-io-filter" {
  section     = "v13 page, VMware CDP and Universal CDP Components: Backup Server: vCenter Server, ESXi host → backup server TCP 33035"
  from        = ["vcenter_server", "esxi_host"]
  to          = ["backup_server"]
  protocol    = "tcp"
  ports       = [33035]
  when        = var.cdp
  description = "I/O filter installation on vCenter servers and ESXi hosts."
}
