# Seed sections "Object Storage Repository", "External Repository" and
# "Archive Object Storage Repository": cloud endpoints by FQDN (outbound notes
# on the sources). The gateway server is the source; when no gateway server is
# selected the backup server acts as one: assign gateway_server to it then.
# IBM Cloud Object Storage and S3-compatible object storage have no fixed port
# ("customizable, depends on the device settings"): their flows take the port
# from var.s3_compatible_port and apply only when it is set (docs/policy.md).

flow "object-storage-s3" {
  section     = "Object Storage Repository"
  from        = ["gateway_server"]
  endpoint    = "*.amazonaws.com, *.amazonaws.com.cn"
  protocol    = "tcp"
  ports       = [443]
  description = "Amazon S3 object storage: communication over HTTPS (*.amazonaws.com for the Global and Government regions, *.amazonaws.com.cn for the China region; Amazon lists all endpoints)."
}

flow "object-storage-s3-certificate" {
  section     = "Object Storage Repository"
  from        = ["gateway_server"]
  endpoint    = "*.amazontrust.com"
  protocol    = "tcp"
  ports       = [80]
  description = "Amazon S3 object storage: HTTP to the certificate verification endpoints (CRL URLs and OCSP servers) to check certificate status; they may change, the actual list is in the certificate."
}

flow "object-storage-azure" {
  section     = "Object Storage Repository"
  from        = ["gateway_server"]
  endpoint    = "<account>.blob.core.windows.net, <account>.blob.core.chinacloudapi.cn, <account>.blob.core.cloudapi.de, <account>.blob.core.usgovcloudapi.net"
  protocol    = "tcp"
  ports       = [443]
  description = "Microsoft Azure object storage: communication over HTTPS (Global, China, Germany and Government regions; replace <account> with the storage account URL shown in the Azure management portal)."
}

flow "object-storage-azure-certificate" {
  section     = "Object Storage Repository"
  from        = ["gateway_server"]
  endpoint    = "ocsp.digicert.com, ocsp.msocsp.com, *.d-trust.net"
  protocol    = "tcp"
  ports       = [80]
  description = "Microsoft Azure object storage: HTTP to the certificate verification endpoints (CRL URLs and OCSP servers) to check certificate status; they may change, the actual list is in the certificate; *.d-trust.net is used for the Germany region only."
}

flow "object-storage-google" {
  section     = "Object Storage Repository"
  from        = ["gateway_server"]
  endpoint    = "storage.googleapis.com"
  protocol    = "tcp"
  ports       = [443]
  description = "Google Cloud Storage: communication over HTTPS (Google lists all endpoints)."
}

flow "object-storage-google-certificate" {
  section     = "Object Storage Repository"
  from        = ["gateway_server"]
  endpoint    = "ocsp.pki.goog, pki.goog, crl.pki.goog"
  protocol    = "tcp"
  ports       = [80]
  description = "Google Cloud Storage: HTTP to the certificate verification endpoints (CRL URLs and OCSP servers) to check certificate status; they may change, the actual list is in the certificate."
}

flow "external-repository-s3" {
  section     = "External Repository"
  from        = ["gateway_server"]
  endpoint    = "*.amazonaws.com, *.amazonaws.com.cn"
  protocol    = "tcp"
  ports       = [443]
  description = "Amazon S3 object storage: communication over HTTPS (*.amazonaws.com for the Global and Government regions, *.amazonaws.com.cn for the China region; Amazon lists all endpoints)."
}

flow "external-repository-s3-certificate" {
  section     = "External Repository"
  from        = ["gateway_server"]
  endpoint    = "*.amazontrust.com"
  protocol    = "tcp"
  ports       = [80]
  description = "Amazon S3 object storage: HTTP to the certificate verification endpoints (CRL URLs and OCSP servers) to check certificate status; they may change, the actual list is in the certificate."
}

flow "external-repository-azure" {
  section     = "External Repository"
  from        = ["gateway_server"]
  endpoint    = "<account>.blob.core.windows.net, <account>.blob.core.chinacloudapi.cn, <account>.blob.core.cloudapi.de, <account>.blob.core.usgovcloudapi.net"
  protocol    = "tcp"
  ports       = [443]
  description = "Microsoft Azure object storage: communication over HTTPS (Global, China, Germany and Government regions; replace <account> with the storage account URL shown in the Azure management portal)."
}

flow "external-repository-azure-certificate" {
  section     = "External Repository"
  from        = ["gateway_server"]
  endpoint    = "ocsp.digicert.com, ocsp.msocsp.com, *.d-trust.net"
  protocol    = "tcp"
  ports       = [80]
  description = "Microsoft Azure object storage: HTTP to the certificate verification endpoints (CRL URLs and OCSP servers) to check certificate status; they may change, the actual list is in the certificate; *.d-trust.net is used for the Germany region only."
}

flow "external-repository-google" {
  section     = "External Repository"
  from        = ["gateway_server"]
  endpoint    = "storage.googleapis.com"
  protocol    = "tcp"
  ports       = [443]
  description = "Google Cloud Storage: communication over HTTPS (Google lists all endpoints)."
}

flow "external-repository-google-certificate" {
  section     = "External Repository"
  from        = ["gateway_server"]
  endpoint    = "ocsp.pki.goog, pki.goog, crl.pki.goog"
  protocol    = "tcp"
  ports       = [80]
  description = "Google Cloud Storage: HTTP to the certificate verification endpoints (CRL URLs and OCSP servers) to check certificate status; they may change, the actual list is in the certificate."
}

flow "object-storage-s3-compatible" {
  section     = "Object Storage Repository"
  from        = ["gateway_server"]
  endpoint    = "IBM Cloud Object Storage or S3-compatible object storage (the address of the device)"
  protocol    = "tcp"
  ports       = [var.s3_compatible_port]
  when        = var.s3_compatible_port != null
  description = "IBM Cloud Object Storage and S3-compatible object storage: TCP/HTTPS on the port the device is configured with (customizable, depends on the device settings)."
}

# --- Archive tier: proxy appliances that Veeam deploys in the cloud ---

flow "archive-ec2-appliance-https" {
  section     = "Archive Object Storage Repository"
  from        = ["gateway_server"]
  endpoint    = "Amazon EC2 proxy appliance (its public or private IPv4 address)"
  protocol    = "tcp"
  ports       = [443]
  description = "HTTPS to the Amazon EC2 proxy appliance of the archive tier (default 443, adjustable in the Amazon S3 Glacier wizard). Without a selected gateway server the backup server is the gateway server."
}

flow "archive-ec2-appliance-ssh" {
  section     = "Archive Object Storage Repository"
  from        = ["gateway_server"]
  endpoint    = "Amazon EC2 proxy appliance (its public or private IPv4 address)"
  protocol    = "tcp"
  ports       = [22]
  description = "SSH to the Amazon EC2 proxy appliance of the archive tier. Without a selected gateway server the backup server is the gateway server."
}

flow "archive-azure-appliance-https" {
  section     = "Archive Object Storage Repository"
  from        = ["gateway_server"]
  endpoint    = "Microsoft Azure proxy appliance (its public or private IPv4 address)"
  protocol    = "tcp"
  ports       = [443]
  description = "HTTPS to the Microsoft Azure proxy appliance of the archive tier (default 443, adjustable in the Azure archive wizard). Without a selected gateway server the backup server is the gateway server."
}

flow "archive-azure-appliance-ssh" {
  section     = "Archive Object Storage Repository"
  from        = ["gateway_server"]
  endpoint    = "Microsoft Azure proxy appliance (its public or private IPv4 address)"
  protocol    = "tcp"
  ports       = [22]
  description = "SSH to the Microsoft Azure proxy appliance of the archive tier. Without a selected gateway server the backup server is the gateway server."
}

flow "archive-appliance-s3" {
  section     = "Archive Object Storage Repository"
  from        = ["archive_proxy_appliance"]
  endpoint    = "*.amazonaws.com, *.amazonaws.com.cn"
  protocol    = "tcp"
  ports       = [443]
  description = "Amazon EC2 proxy appliance to Amazon S3 object storage: communication over HTTPS (*.amazonaws.com for the Global and Government regions, *.amazonaws.com.cn for the China region; Amazon lists all endpoints)."
}

flow "archive-appliance-s3-certificate" {
  section     = "Archive Object Storage Repository"
  from        = ["archive_proxy_appliance"]
  endpoint    = "*.amazontrust.com"
  protocol    = "tcp"
  ports       = [80]
  description = "Amazon EC2 proxy appliance to Amazon S3 object storage: HTTP to the certificate verification endpoints (CRL URLs and OCSP servers) to check certificate status; they may change, the actual list is in the certificate."
}

flow "archive-appliance-azure" {
  section     = "Archive Object Storage Repository"
  from        = ["archive_proxy_appliance"]
  endpoint    = "<account>.blob.core.windows.net, <account>.blob.core.chinacloudapi.cn, <account>.blob.core.cloudapi.de, <account>.blob.core.usgovcloudapi.net"
  protocol    = "tcp"
  ports       = [443]
  description = "Microsoft Azure proxy appliance to Microsoft Azure object storage: communication over HTTPS (Global, China, Germany and Government regions; replace <account> with the storage account URL shown in the Azure management portal)."
}

flow "archive-appliance-azure-certificate" {
  section     = "Archive Object Storage Repository"
  from        = ["archive_proxy_appliance"]
  endpoint    = "ocsp.digicert.com, ocsp.msocsp.com, *.d-trust.net"
  protocol    = "tcp"
  ports       = [80]
  description = "Microsoft Azure proxy appliance to Microsoft Azure object storage: HTTP to the certificate verification endpoints (CRL URLs and OCSP servers) to check certificate status; they may change, the actual list is in the certificate; *.d-trust.net is used for the Germany region only."
}
