# Port numbers of the v13 page that this pack deliberately does not encode, by
# page section, and why. TestV13PortsEncoded (policies/v13_test.go) fails on any
# page port that is neither used by a flow nor listed here. Sections listed here
# are not encoded at all, even where some of their numbers appear in other flows.

not_encoded "storage-systems" {
  ports  = [22, 80, 111, 443, 445, 635, 2049, 3033, 3260, 4420, 5392, 8008, 8009, 8080, 8443, 9440, 20048]
  reason = "Page section \"Storage Systems\" (storage snapshot integration: Dell, HPE, Lenovo, NetApp, Nutanix Files, Pure Storage, universal storage API systems): the destinations are storage arrays portwarden cannot manage and the sources are backup proxies using iSCSI/NFS/FC; not encoded in this pack. Add a flow in a --policy directory for your array."
}

not_encoded "unstructured-data" {
  ports  = [22, 80, 88, 111, 137, 139, 389, 443, 445, 635, 2049, 2500, 3300, 6160, 6162, 6170, 6210, 10000, 20048]
  reason = "Page section \"Unstructured Data Backup Components\" (NAS/file share and object storage backup, cache repositories, NDMP servers, their AD rows): not encoded in this pack yet; add flows in a --policy directory. Its NDMP row (10000) is the same as v12's ndmp flow."
}

not_encoded "log-shipping" {
  ports  = [22, 135, 137, 139, 443, 445, 2500, 3300, 6160, 6162, 6167, 6173, 11731]
  reason = "Page section \"Log Shipping Components\" (log shipping servers, MS SQL, Oracle and PostgreSQL guests, repositories, gateways, hypervisors): not encoded in this pack yet; the guest-log-shipping flow covers the 2500-3300 range from the guest interaction proxy."
}

not_encoded "guest-os-file-recovery" {
  ports  = [20, 21, 22, 135, 443, 445, 2500, 3300, 6160, 6162, 11731]
  reason = "Page section \"Guest OS File Recovery Components\" (helper appliances, helper hosts, guest OS incl. FTP 20/21, repositories, virtualization servers, Veeam update servers): not encoded in this pack yet."
}

not_encoded "surebackup" {
  ports  = [443, 2500, 3300, 6162, 8080]
  reason = "Page sections \"SureBackup Components\" and \"SureReplica Recovery Verification Components\" (virtual lab appliances and proxies, 8080 web test): not encoded in this pack yet."
}

not_encoded "cloud-restore" {
  ports  = [22, 80, 443, 3260, 3262, 9555]
  reason = "Page sections \"Restore to Amazon EC2 and Restore to Google Cloud\", \"Restore to Microsoft Azure\" and \"Instant Recovery to Microsoft Azure\" (cloud helper and proxy appliances, iSCSI 3260-3262, 9555): cloud systems outside the inventory; not encoded in this pack yet."
}

not_encoded "object-storage-and-vault" {
  ports  = [22, 80, 443]
  reason = "Page sections \"Veeam Data Cloud Vault\", \"Object Storage Repositories\", \"External Repositories\" and \"Archive Object Storage Repositories\": cloud endpoints (HTTPS 443, certificate checks 80, archive appliances 22) not encoded as notes in this pack yet; the v12 pack's object storage notes read the same."
}
