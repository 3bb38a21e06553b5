# Seed section "VM Guest OS": connections with the non-persistent runtime
# components (default) and with the persistent agent components (opt-in,
# var.persistent_guest_agent) deployed in VM guests for application-aware
# processing and indexing. The seed's note that the second table is not
# needed in networkless mode over VMware VIX/vSphere Web Services does not
# apply to Hyper-V (see docs/policy.md).

# --- Non-persistent runtime components: backup server ---

flow "guest-linux-ssh-from-backup-server" {
  section     = "VM Guest OS: Non-Persistent Runtime Components"
  from        = ["backup_server"]
  to          = ["guest_linux"]
  protocol    = "tcp"
  ports       = [22]
  description = "Default SSH port used as a control channel to the Linux VM guest OS."
}

flow "guest-interaction-proxy" {
  section     = "VM Guest OS: Non-Persistent Runtime Components"
  from        = ["backup_server"]
  to          = ["guest_interaction_proxy"]
  protocol    = "tcp"
  ports       = [6190]
  description = "Used for communication with the guest interaction proxy."
}

flow "guest-interaction-proxy-control" {
  section     = "VM Guest OS: Non-Persistent Runtime Components"
  from        = ["backup_server"]
  to          = ["guest_interaction_proxy"]
  protocol    = "tcp"
  ports       = [6290]
  description = "Used as a control channel for communication with the guest interaction proxy."
}

flow "guest-interaction-proxy-transmission" {
  section     = "VM Guest OS: Non-Persistent Runtime Components"
  from        = ["backup_server"]
  to          = ["guest_interaction_proxy"]
  protocol    = "tcp"
  ports       = [445]
  description = "Used as a transmission channel to the guest interaction proxy."
}

# --- Non-persistent runtime components: guest interaction proxy or mount server ---

flow "guest-windows-deploy" {
  section     = "VM Guest OS: Non-Persistent Runtime Components"
  from        = ["guest_interaction_proxy", "mount_server"]
  to          = ["guest_windows"]
  protocol    = "tcp"
  ports       = [445]
  description = "Required to deploy the runtime coordination process on the Microsoft Windows VM guest OS."
}

flow "guest-windows-deploy-rpc" {
  section     = "VM Guest OS: Non-Persistent Runtime Components"
  from        = ["guest_interaction_proxy", "mount_server"]
  to          = ["guest_windows"]
  protocol    = "tcp"
  ports       = [135]
  when        = var.optional_port_135
  description = "Optional port 135 for faster deployment of the runtime coordination process on the Microsoft Windows VM guest OS."
}

flow "guest-windows-dynamic-rpc" {
  section     = "VM Guest OS: Non-Persistent Runtime Components"
  from        = ["guest_interaction_proxy", "mount_server"]
  to          = ["guest_windows"]
  protocol    = "tcp"
  ports       = [local.dynamic_rpc_ports]
  when        = var.guest_dynamic_rpc
  description = "Dynamic port range (Microsoft Windows 2008 and later) used by the runtime process deployed in the VM for guest OS interaction; not needed with default Windows Firewall settings, where Veeam creates a rule for the runtime process."
}

flow "guest-windows-sql-log-shipping" {
  section     = "VM Guest OS: Non-Persistent Runtime Components"
  from        = ["guest_interaction_proxy", "mount_server"]
  to          = ["guest_windows"]
  protocol    = "tcp"
  ports       = [6167]
  when        = var.sql_log_shipping
  description = "[Microsoft SQL log shipping] Used to prepare the database and retrieve logs."
}

flow "guest-linux-ssh" {
  section     = "VM Guest OS: Non-Persistent Runtime Components"
  from        = ["guest_interaction_proxy", "mount_server"]
  to          = ["guest_linux"]
  protocol    = "tcp"
  ports       = [22]
  description = "Default SSH port used as a control channel to the Linux VM guest OS."
}

flow "guest-to-guest-interaction-proxy" {
  section     = "VM Guest OS: Non-Persistent Runtime Components"
  from        = ["guest_windows", "guest_linux"]
  to          = ["guest_interaction_proxy", "mount_server"]
  protocol    = "tcp"
  ports       = [local.data_mover_ports]
  description = "Default range of ports used as transmission channels for jobs from the VM guest OS to the guest interaction proxy or mount server; one port of the range is assigned to every TCP connection a job uses."
}

# --- Persistent agent components ---

flow "guest-agent-installer" {
  section     = "VM Guest OS: Persistent Agent Components"
  from        = ["guest_interaction_proxy", "mount_server"]
  to          = ["guest_windows", "guest_linux"]
  protocol    = "tcp"
  ports       = [6160, 11731]
  when        = var.persistent_guest_agent
  description = "Default port and failover port used by the Veeam Installer Service."
}

flow "guest-agent-log-shipping" {
  section     = "VM Guest OS: Persistent Agent Components"
  from        = ["guest_interaction_proxy", "mount_server"]
  to          = ["guest_windows", "guest_linux"]
  protocol    = "tcp"
  ports       = [6167]
  when        = var.persistent_guest_agent
  description = "Used by the Veeam Log Shipping Service to collect and transfer logs."
}

flow "guest-agent-guest-helper" {
  section     = "VM Guest OS: Persistent Agent Components"
  from        = ["guest_interaction_proxy", "mount_server"]
  to          = ["guest_windows", "guest_linux"]
  protocol    = "tcp"
  ports       = [6173, 2500]
  when        = var.persistent_guest_agent
  description = "Used by the Veeam Guest Helper for guest OS processing."
}
