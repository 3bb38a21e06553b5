# Seed sections "Dell EMC Data Domain", "ExaGrid", "HPE StoreOnce" and
# "Quantum DXi". Each flow goes to the vendor's role and to the generic
# dedup_appliance. Source: "backup server or gateway server". The rows
# "backup server -> gateway server: open the ports of Gateway Server" are
# covered by the gateway server flows (windows_server / linux_server).

flow "data-domain-rpcbind" {
  section     = "Dell EMC Data Domain"
  from        = ["backup_server", "gateway_server"]
  to          = ["data_domain", "dedup_appliance"]
  protocol    = "tcp"
  ports       = [111]
  description = "Dell EMC Data Domain: assigns a random port to the mountd service used by NFS and DD Boost (the mountd port can be assigned statically)."
}

flow "data-domain-nfs" {
  section     = "Dell EMC Data Domain"
  from        = ["backup_server", "gateway_server"]
  to          = ["data_domain", "dedup_appliance"]
  protocol    = "tcp"
  ports       = [2049]
  description = "Dell EMC Data Domain: main port used by NFS; can be changed with the 'nfs set server-port' command (requires SE mode)."
}

flow "data-domain-mountd" {
  section     = "Dell EMC Data Domain"
  from        = ["backup_server", "gateway_server"]
  to          = ["data_domain", "dedup_appliance"]
  protocol    = "tcp"
  ports       = [2052]
  description = "Dell EMC Data Domain: main port used by NFS MOUNTD; can be changed with the 'nfs set mountd-port' command in SE mode."
}

flow "exagrid-command" {
  section     = "ExaGrid"
  from        = ["backup_server", "gateway_server"]
  to          = ["exagrid", "dedup_appliance"]
  protocol    = "tcp"
  ports       = [22]
  description = "ExaGrid: default command port for communication with ExaGrid."
}

flow "storeonce-command" {
  section     = "HPE StoreOnce"
  from        = ["backup_server", "gateway_server"]
  to          = ["hpe_storeonce", "dedup_appliance"]
  protocol    = "tcp"
  ports       = [9387]
  description = "HPE StoreOnce: default command port for communication with HPE StoreOnce."
}

flow "storeonce-data" {
  section     = "HPE StoreOnce"
  from        = ["backup_server", "gateway_server"]
  to          = ["hpe_storeonce", "dedup_appliance"]
  protocol    = "tcp"
  ports       = [9388]
  description = "HPE StoreOnce: default data port for communication with HPE StoreOnce."
}

flow "quantum-dxi-command" {
  section     = "Quantum DXi"
  from        = ["backup_server", "gateway_server"]
  to          = ["quantum_dxi", "dedup_appliance"]
  protocol    = "tcp"
  ports       = [22]
  description = "Quantum DXi: default command port for communication with Quantum DXi."
}
