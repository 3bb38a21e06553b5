# Seed section "Veeam U-AIR".

flow "uair-enterprise-manager" {
  section     = "Veeam U-AIR"
  from        = ["uair_client"]
  to          = ["enterprise_manager"]
  protocol    = "tcp"
  ports       = [9394]
  description = "Default port for communication with Veeam Backup Enterprise Manager; can be customized during the Enterprise Manager installation."
}
