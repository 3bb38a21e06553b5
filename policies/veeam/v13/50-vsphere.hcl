# Page section "VMware vSphere Components". vCenter, ESXi and Cloud Director
# are appliances portwarden cannot manage (firewall = false): notes on the sources.

flow "vcenter-from-backup-server" {
  section     = "VMware vSphere Components: backup server → vCenter Server TCP 443"
  from        = ["backup_server"]
  to          = ["vcenter_server"]
  protocol    = "tcp"
  ports       = [443]
  description = "Connections to vCenter Server (direct; HTTP/HTTPS proxies are not supported). With VMware Cloud Director, also on the underlying vCenter Servers."
}

flow "vcenter-from-proxy" {
  section     = "VMware vSphere Components: backup proxy → vCenter Server TCP 443"
  from        = ["vmware_proxy"]
  to          = ["vcenter_server"]
  protocol    = "tcp"
  ports       = [443]
  description = "Default VMware web service port (customizable in vCenter settings)."
}

flow "esxi-from-proxy" {
  section     = "VMware vSphere Components: backup proxy → ESXi server TCP 902, 443"
  from        = ["vmware_proxy"]
  to          = ["esxi_host"]
  protocol    = "tcp"
  ports       = [443, 902]
  description = "902: VMware data transfer; 443: web service (not required if the vCenter connection is used). Neither is needed for VMware Cloud on AWS."
}

flow "esxi-from-backup-server" {
  section     = "VMware vSphere Components: backup server → ESXi server TCP 443, 902"
  from        = ["backup_server"]
  to          = ["esxi_host"]
  protocol    = "tcp"
  ports       = [443, 902]
  description = "Connections to the ESXi host and data transfer (also guest OS file recovery from replicas). Not needed for VMware Cloud on AWS."
}

flow "vcloud-director" {
  section     = "VMware vSphere Components: backup server → VMware Cloud Director TCP 443"
  from        = ["backup_server"]
  to          = ["vcloud_director"]
  protocol    = "tcp"
  ports       = [443]
  description = "Connections to VMware Cloud Director (direct; HTTP/HTTPS proxies are not supported)."
}
