# Page section "Guest Processing Components". var.guest_networkless: guests are
# processed over VMware VIX / vSphere Web Services or PowerShell Direct, where the
# page marks the network rows as not required.

flow "gip-deploy-windows" {
  section     = "Guest Processing Components: Guest Interaction Proxies: backup server → guest interaction proxy TCP 445, 135"
  from        = ["backup_server"]
  to          = ["guest_interaction_proxy"]
  protocol    = "tcp"
  ports       = [135, 445]
  description = "Adding Windows VMs to managed servers with local administrator credentials."
}

flow "gip-installer" {
  section     = "Guest Processing Components: Guest Interaction Proxies: backup server → guest interaction proxy TCP 6160"
  from        = ["backup_server"]
  to          = ["guest_interaction_proxy"]
  protocol    = "tcp"
  ports       = [6160]
  description = "Adding Windows and Linux VMs with certificate-based authentication (Deployment Kit pre-installed)."
}

flow "gip-ssh" {
  section     = "Guest Processing Components: Guest Interaction Proxies: backup server → guest interaction proxy TCP 22"
  from        = ["backup_server"]
  to          = ["linux_guest_interaction_proxy"]
  protocol    = "tcp"
  ports       = [22]
  description = "Adding Linux VMs to managed servers with SSH credentials."
}

flow "gip-runtime" {
  section     = "Guest Processing Components: Guest Interaction Proxies: backup server → guest interaction proxy TCP 6190"
  from        = ["backup_server"]
  to          = ["guest_interaction_proxy"]
  protocol    = "tcp"
  ports       = [6190]
  description = "Backup server and components to the non-persistent runtime components in the guest OS."
}

flow "guest-log-shipping" {
  section     = "Guest Processing Components: Protected Workloads: guest interaction proxy → VM guest OS TCP 2500 to 3300"
  from        = ["guest_interaction_proxy"]
  to          = ["guest_windows", "guest_linux"]
  protocol    = "tcp"
  ports       = [local.data_mover_ports]
  when        = !var.guest_networkless
  description = "Transmission channels for log shipping (not in networkless mode)."
}

flow "guest-windows-runtime" {
  section     = "Guest Processing Components: Protected Workloads: guest interaction proxy → VM guest OS (Microsoft Windows) TCP 445, 135, 6173"
  from        = ["guest_interaction_proxy"]
  to          = ["guest_windows"]
  protocol    = "tcp"
  ports       = [135, 445, 6173]
  when        = !var.guest_networkless
  description = "Deploying the runtime coordination process (445, 135) and the runtime process (6173); not in networkless mode."
}

flow "guest-linux-ssh" {
  section     = "Guest Processing Components: Protected Workloads: guest interaction proxy → VM guest OS (Linux) TCP 22"
  from        = ["guest_interaction_proxy"]
  to          = ["guest_linux"]
  protocol    = "tcp"
  ports       = [22]
  when        = !var.guest_networkless
  description = "SSH control channel (not in networkless mode)."
}

flow "guest-agent-linux-install" {
  section     = "Guest Processing Components: Protected Workloads: backup server → VM guest OS (Linux) TCP 22, 2500 to 3300"
  from        = ["backup_server"]
  to          = ["guest_linux"]
  protocol    = "tcp"
  ports       = [22, local.data_mover_ports]
  when        = var.persistent_guest_agent
  description = "Persistent agent installation (SSH control channel, installation ports)."
}

flow "guest-agent-linux" {
  section     = "Guest Processing Components: Protected Workloads: guest interaction proxy → VM guest OS (Linux) TCP 6160, 6162"
  from        = ["guest_interaction_proxy"]
  to          = ["guest_linux"]
  protocol    = "tcp"
  ports       = [6160, 6162]
  when        = var.persistent_guest_agent
  description = "Veeam Installer Service for Linux (6160); Management Agent (6162) when used as the control channel instead of SSH."
}

flow "guest-agent-windows" {
  section     = "Guest Processing Components: Protected Workloads: guest interaction proxy → VM guest OS (Windows) TCP 6160, 11731, 6173"
  from        = ["guest_interaction_proxy"]
  to          = ["guest_windows"]
  protocol    = "tcp"
  ports       = [6160, 6173, 11731]
  when        = var.persistent_guest_agent
  description = "Veeam Installer Service (6160, failover 11731) and Veeam Guest Helper (6173)."
}

flow "gip-to-gateway" {
  section     = "Guest Processing Components: Gateway Servers: guest interaction proxy → gateway server TCP 6162, 2500 to 3300"
  from        = ["guest_interaction_proxy"]
  to          = ["gateway_server"]
  protocol    = "tcp"
  ports       = ["6162", local.data_mover_ports]
  description = "Default port used by Veeam Transport Service (Veeam Data Mover Service on Microsoft Windows); the port range 2500-3300 is used for failover if port 6162 is unavailable."
}

flow "gip-to-esxi" {
  section     = "Guest Processing Components: Hypervisors: guest interaction proxy → ESXi server TCP 443"
  from        = ["guest_interaction_proxy"]
  to          = ["esxi_host"]
  protocol    = "tcp"
  ports       = [443]
  description = "Connections to the ESXi host for the non-persistent runtime components."
}
