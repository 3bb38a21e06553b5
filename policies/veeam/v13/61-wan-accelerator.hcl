# Page section "WAN Acceleration Components". Deployment rows: 30-deployment.hcl.

flow "wan-services" {
  section     = "WAN Acceleration Components: backup server → WAN accelerator (source and target) TCP 6162, 6164"
  from        = ["backup_server"]
  to          = ["wan_accelerator"]
  protocol    = "tcp"
  ports       = [6162, 6164]
  description = "Veeam Transport Service (6162) and the controlling port for RPC calls (6164)."
}

flow "wan-cloud-connect-throttling" {
  section     = "WAN Acceleration Components: backup server → WAN accelerator (target) TCP 6220"
  from        = ["backup_server"]
  to          = ["wan_accelerator"]
  protocol    = "tcp"
  ports       = [6220]
  when        = var.cloud_connect
  description = "Traffic control (throttling) for tenants that use WAN accelerators; Veeam Cloud Connect only."
}

flow "wan-peer" {
  section     = "WAN Acceleration Components: WAN accelerator ↔ WAN accelerator TCP 6164, 6165"
  from        = ["wan_accelerator"]
  to          = ["wan_accelerator"]
  protocol    = "tcp"
  ports       = [6164, 6165]
  description = "RPC control (6164) and data transfer between WAN accelerators (6165), open between the sites."
}

flow "wan-to-repository" {
  section     = "WAN Acceleration Components: WAN accelerator (source/target) → backup repository (source/target) TCP 2500 to 3300"
  from        = ["wan_accelerator"]
  to          = ["backup_repository", "gateway_server"]
  protocol    = "tcp"
  ports       = [local.data_mover_ports]
  description = "Data transmission channels; the gateway server is the data mover of a repository without its own (docs/policy.md, correction 1)."
}
