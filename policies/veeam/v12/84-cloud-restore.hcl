# Seed sections on restore to public clouds: the proxy appliance (restore to
# Amazon EC2 or Google Cloud), the Azure proxy, the Azure helper appliance and
# Azure Stack. They are cloud systems outside the inventory: endpoint flows
# (outbound notes on the backup server and backup repositories).

flow "cloud-proxy-appliance-ssh" {
  section     = "Proxy Appliance Connections (Restore to Amazon EC2, Google Cloud)"
  from        = ["backup_server", "backup_repository"]
  endpoint    = "proxy appliance for restore to Amazon EC2 or Google Cloud"
  protocol    = "tcp"
  ports       = [22]
  description = "Communication channel to the proxy appliance during restore to Amazon EC2 or Google Cloud."
}

flow "cloud-proxy-appliance-redirector" {
  section     = "Proxy Appliance Connections (Restore to Amazon EC2, Google Cloud)"
  from        = ["backup_server", "backup_repository"]
  endpoint    = "proxy appliance for restore to Amazon EC2 or Google Cloud"
  protocol    = "tcp"
  ports       = [443]
  description = "Default redirector port; it can be changed in the proxy appliance settings."
}

flow "azure-proxy" {
  section     = "Azure Proxy"
  from        = ["backup_server", "backup_repository"]
  endpoint    = "Azure proxy"
  protocol    = "tcp"
  ports       = [443]
  description = "Default management and data transport port for communication with the Azure proxy; must be open on the backup server and on the backup repositories that store VM backups. It can be changed in the Azure proxy settings."
}

flow "azure-helper-appliance" {
  section     = "Helper Appliance"
  from        = ["backup_server"]
  endpoint    = "Azure helper appliance"
  protocol    = "tcp"
  ports       = [22]
  description = "Communication channel to the helper appliance during restore to Azure (default 22; can be changed when the helper appliance is deployed)."
}

flow "azure-stack" {
  section     = "Azure Stack"
  from        = ["backup_server"]
  endpoint    = "Azure Stack"
  protocol    = "tcp"
  ports       = [443, 30024]
  description = "HTTPS: default management and data transfer ports for communication with Azure Stack."
}
