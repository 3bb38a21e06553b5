# Page section "VMware CDP and Universal CDP Components". The page has no
# deployment rows for CDP proxies: a CDP proxy that is also a backup proxy gets those
# through vmware_proxy.

flow "cdp-from-esxi" {
  section     = "VMware CDP and Universal CDP Components: CDP Proxies: ESXi host (source) → CDP proxy (source) TCP 33032"
  from        = ["esxi_host"]
  to          = ["cdp_proxy"]
  protocol    = "tcp"
  ports       = [33032]
  description = "[Regular CDP] Transmission channel to the source CDP proxy."
}

flow "cdp-from-workload" {
  section     = "VMware CDP and Universal CDP Components: CDP Proxies: source workload → CDP proxy (source) TCP 33032"
  from        = ["cdp_workload"]
  to          = ["cdp_proxy"]
  protocol    = "tcp"
  ports       = [33032]
  description = "[Universal CDP] Transmission channel to the source CDP proxy."
}

flow "cdp-proxy-peer" {
  section     = "VMware CDP and Universal CDP Components: CDP Proxies: CDP proxy (source) → CDP proxy (target) TCP 33033"
  from        = ["cdp_proxy"]
  to          = ["cdp_proxy"]
  protocol    = "tcp"
  ports       = [33033]
  description = "Transmission channel to the target CDP proxy."
}

flow "cdp-proxy-control" {
  section     = "VMware CDP and Universal CDP Components: CDP Proxies: backup server → CDP proxy (source and target) TCP 6182"
  from        = ["backup_server"]
  to          = ["cdp_proxy"]
  protocol    = "tcp"
  ports       = [6182]
  description = "Control channel."
}

flow "cdp-vcenter" {
  section     = "VMware CDP and Universal CDP Components: Virtualization Servers: CDP proxy, backup server → vCenter Server TCP 443"
  from        = ["cdp_proxy", "backup_server"]
  to          = ["vcenter_server"]
  protocol    = "tcp"
  ports       = [443]
  when        = var.cdp
  description = "Web service (initial synchronization and restore) and control channel."
}

flow "cdp-esxi-local" {
  section     = "VMware CDP and Universal CDP Components: Virtualization Servers: ESXi host → ESXi host TCP 33036"
  from        = ["esxi_host"]
  to          = ["esxi_host"]
  protocol    = "tcp"
  ports       = [33036]
  when        = var.cdp
  description = "CDP components on the ESXi host over HTTPS without HTTP Reverse Proxy."
}

flow "cdp-proxy-esxi" {
  section     = "VMware CDP and Universal CDP Components: Virtualization Servers: CDP proxy → ESXi host TCP 902, 33032"
  from        = ["cdp_proxy"]
  to          = ["esxi_host"]
  protocol    = "tcp"
  ports       = [902, 33032]
  description = "VMware data transfer (902, initial synchronization and restore) and the transmission channel to the target ESXi host (33032)."
}

flow "cdp-backup-server-esxi" {
  section     = "VMware CDP and Universal CDP Components: Virtualization Servers: backup server → ESXi host TCP 443, 33035"
  from        = ["backup_server"]
  to          = ["esxi_host"]
  protocol    = "tcp"
  ports       = [443, 33035]
  when        = var.cdp
  description = "Control channel (443) and I/O filter installation (33035)."
}

flow "cdp-workload-coordinator" {
  section     = "VMware CDP and Universal CDP Components: Source Workloads: backup server → source workload TCP 33050"
  from        = ["backup_server"]
  to          = ["cdp_workload"]
  protocol    = "tcp"
  ports       = [33050]
  description = "[Universal CDP] Veeam CDP Coordinator Service to Veeam CDP Agent Service over HTTPS."
}

flow "cdp-coordinator" {
  section     = "VMware CDP and Universal CDP Components: Backup Server: CDP proxy, ESXi host, vCenter Server → backup server TCP 33034"
  from        = ["cdp_proxy", "esxi_host", "vcenter_server"]
  to          = ["backup_server"]
  protocol    = "tcp"
  ports       = [33034]
  when        = var.cdp
  description = "Veeam CDP Coordinator Service."
}

flow "cdp-io-filter" {
  section     = "VMware CDP and Universal CDP Components: Backup Server: vCenter Server, ESXi host → backup server TCP 33035"
  from        = ["vcenter_server", "esxi_host"]
  to          = ["backup_server"]
  protocol    = "tcp"
  ports       = [33035]
  when        = var.cdp
  description = "I/O filter installation on vCenter servers and ESXi hosts."
}
