"""Which input changes make the engine replace a resource, per resource type the program declares.

A path is dotted, in the engine's camelCase wire form; `*` stands for every list item. A change at or
below a listed path forces a replacement (the provider's `ForceNew`, pulumi-kubernetes' `forceNew`
table). Paths listed under `immutable` are ones the API refuses to change in place while the
provider does not replace: an update that touches them is refused (unless `replaceOnChanges` covers
them). Sources are the provider sources at the versions the SDK pins bridge to:

- AWS: hashicorp/terraform-provider-aws, internal/service/<service>/<resource>.go (schema `ForceNew`)
  behind pulumi_aws 7.51.1;
- GCP: hashicorp/terraform-provider-google, google/services/<service>/resource_<name>.go behind
  pulumi_gcp 10.2.0;
- Kubernetes: pulumi/pulumi-kubernetes provider/pkg/provider/diff.go (`forceNew`), plus fields the
  Kubernetes API declares immutable;
- tls/random: every argument of these resources is ForceNew (they are pure functions of their inputs).

`tests/test_rehearsal_change.py` fails when a type the dev or prod preview declares has no entry here,
so the next resource is classified too.
"""

from __future__ import annotations

from dataclasses import dataclass

TF_AWS = "https://github.com/hashicorp/terraform-provider-aws/blob/main/internal/service/"
TF_GOOGLE = "https://github.com/hashicorp/terraform-provider-google/blob/main/google/services/"
K8S_DIFF = "https://github.com/pulumi/pulumi-kubernetes/blob/master/provider/pkg/provider/diff.go"
K8S_API = "https://kubernetes.io/docs/reference/kubernetes-api/"


@dataclass(frozen=True)
class ForceNew:
    paths: tuple[str, ...]
    source: str
    immutable: tuple[str, ...] = ()  # refused by the API in place, not replaced by the provider


def _fn(source: str, *paths: str, immutable: tuple[str, ...] = ()) -> ForceNew:
    return ForceNew(paths=tuple(paths), source=source, immutable=immutable)


_K8S_META = ("metadata.name", "metadata.namespace")


def _k8s(*paths: str, immutable: tuple[str, ...] = (), source: str = K8S_DIFF) -> ForceNew:
    return ForceNew(paths=_K8S_META + tuple(paths), source=source, immutable=immutable)


FORCE_NEW: dict[str, ForceNew] = {
    # --- AWS ---------------------------------------------------------------------------------------
    "aws:acm/certificate:Certificate": _fn(TF_AWS + "acm/certificate.go", "domainName",
                                           "subjectAlternativeNames", "validationMethod", "keyAlgorithm",
                                           "certificateAuthorityArn", "region"),
    "aws:acm/certificateValidation:CertificateValidation": _fn(
        TF_AWS + "acm/certificate_validation.go", "certificateArn", "validationRecordFqdns", "region"),
    "aws:cloudwatch/logGroup:LogGroup": _fn(TF_AWS + "logs/group.go", "name", "namePrefix", "logGroupClass",
                                            "region"),
    "aws:ec2/customerGateway:CustomerGateway": _fn(
        TF_AWS + "ec2/vpnsite_customer_gateway.go", "bgpAsn", "bgpAsnExtended", "ipAddress", "type",
        "certificateArn", "deviceName", "region"),
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": _fn(TF_AWS + "ec2/vpc_default_security_group.go",
                                                             "vpcId", "region"),
    "aws:ec2/eip:Eip": _fn(TF_AWS + "ec2/ec2_eip.go", "domain", "address", "networkBorderGroup",
                           "publicIpv4Pool", "customerOwnedIpv4Pool", "ipamPoolId", "region"),
    "aws:ec2/networkInterface:NetworkInterface": _fn(TF_AWS + "ec2/vpc_network_interface.go", "subnetId",
                                                     "interfaceType", "privateIp", "region"),
    "aws:ec2/flowLog:FlowLog": _fn(TF_AWS + "ec2/vpc_flow_log.go", "vpcId", "subnetId", "eniId",
                                   "transitGatewayId", "trafficType", "logDestination", "logDestinationType",
                                   "iamRoleArn", "logFormat", "maxAggregationInterval", "destinationOptions",
                                   "deliverCrossAccountRole", "region"),
    "aws:ec2/internetGateway:InternetGateway": _fn(TF_AWS + "ec2/vpc_internet_gateway.go", "region"),
    "aws:ec2/launchTemplate:LaunchTemplate": _fn(TF_AWS + "ec2/ec2_launch_template.go", "name", "namePrefix",
                                                 "region"),
    "aws:ec2/natGateway:NatGateway": _fn(TF_AWS + "ec2/vpc_nat_gateway.go", "allocationId", "subnetId",
                                         "connectivityType", "privateIp", "region"),
    "aws:ec2/route:Route": _fn(TF_AWS + "ec2/vpc_route.go", "routeTableId", "destinationCidrBlock",
                               "destinationIpv6CidrBlock", "destinationPrefixListId", "region"),
    "aws:ec2/routeTable:RouteTable": _fn(TF_AWS + "ec2/vpc_route_table.go", "vpcId", "region"),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": _fn(
        TF_AWS + "ec2/vpc_route_table_association.go", "subnetId", "gatewayId", "region"),
    "aws:ec2/securityGroup:SecurityGroup": _fn(TF_AWS + "ec2/vpc_security_group.go", "name", "namePrefix",
                                               "vpcId", "description", "region"),
    "aws:ec2/securityGroupRule:SecurityGroupRule": _fn(
        TF_AWS + "ec2/vpc_security_group_rule.go", "securityGroupId", "type", "protocol", "fromPort", "toPort",
        "cidrBlocks", "ipv6CidrBlocks", "prefixListIds", "sourceSecurityGroupId", "self", "region"),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": _fn(
        TF_AWS + "vpc/security_group_ingress_rule.go", "securityGroupId", "region"),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": _fn(
        TF_AWS + "vpc/security_group_egress_rule.go", "securityGroupId", "region"),
    "aws:ec2/subnet:Subnet": _fn(TF_AWS + "ec2/vpc_subnet.go", "vpcId", "cidrBlock", "availabilityZone",
                                 "availabilityZoneId", "outpostArn", "region"),
    "aws:ec2/subnetCidrReservation:SubnetCidrReservation": _fn(
        TF_AWS + "ec2/vpc_subnet_cidr_reservation.go", "subnetId", "cidrBlock", "reservationType",
        "description", "region"),
    "aws:ec2/vpc:Vpc": _fn(TF_AWS + "ec2/vpc_.go", "cidrBlock", "ipv4IpamPoolId", "ipv4NetmaskLength",
                           "region"),
    "aws:ec2/vpnConnection:VpnConnection": _fn(
        TF_AWS + "ec2/vpnsite_connection.go", "type", "staticRoutesOnly", "enableAcceleration",
        "tunnel1InsideCidr", "tunnel2InsideCidr", "tunnel1InsideIpv6Cidr", "tunnel2InsideIpv6Cidr",
        "tunnelInsideIpVersion", "outsideIpAddressType", "transportTransitGatewayAttachmentId", "region"),
    "aws:ec2transitgateway/peeringAttachment:PeeringAttachment": _fn(
        TF_AWS + "ec2/transitgateway_peering_attachment.go", "peerAccountId", "peerRegion",
        "peerTransitGatewayId", "transitGatewayId", "options", "region"),
    "aws:ec2transitgateway/peeringAttachmentAccepter:PeeringAttachmentAccepter": _fn(
        TF_AWS + "ec2/transitgateway_peering_attachment_accepter.go", "transitGatewayAttachmentId", "region"),
    "aws:ec2transitgateway/route:Route": _fn(
        TF_AWS + "ec2/transitgateway_route.go", "destinationCidrBlock", "transitGatewayRouteTableId",
        "transitGatewayAttachmentId", "blackhole", "region"),
    "aws:ec2transitgateway/transitGateway:TransitGateway": _fn(
        TF_AWS + "ec2/transitgateway_.go", "amazonSideAsn", "region"),
    "aws:ec2transitgateway/vpcAttachment:VpcAttachment": _fn(
        TF_AWS + "ec2/transitgateway_vpc_attachment.go", "vpcId", "transitGatewayId", "region"),
    "aws:eks/accessEntry:AccessEntry": _fn(TF_AWS + "eks/access_entry.go", "clusterName", "principalArn",
                                           "type", "region"),
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": _fn(
        TF_AWS + "eks/access_policy_association.go", "clusterName", "principalArn", "policyArn",
        "accessScope", "region"),
    "aws:eks/addon:Addon": _fn(TF_AWS + "eks/addon.go", "addonName", "clusterName", "region"),
    "aws:eks/cluster:Cluster": _fn(
        TF_AWS + "eks/cluster.go", "name", "roleArn", "encryptionConfig.provider.keyArn",
        "kubernetesNetworkConfig.serviceIpv4Cidr", "kubernetesNetworkConfig.ipFamily",
        "bootstrapSelfManagedAddons", "accessConfig.bootstrapClusterCreatorAdminPermissions",
        "outpostConfig", "region"),
    # Read at the source: ami_type, capacity_type, cluster_name, disk_size, instance_types,
    # launch_template.id/name, node_group_name(_prefix), node_role_arn, remote_access, subnet_ids.
    "aws:eks/nodeGroup:NodeGroup": _fn(
        TF_AWS + "eks/node_group.go", "amiType", "capacityType", "clusterName", "diskSize", "instanceTypes",
        "launchTemplate.id", "launchTemplate.name", "nodeGroupName", "nodeGroupNamePrefix", "nodeRoleArn",
        "remoteAccess", "subnetIds", "region"),
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": _fn(TF_AWS + "iam/openid_connect_provider.go",
                                                               "url"),
    "aws:iam/policy:Policy": _fn(TF_AWS + "iam/policy.go", "name", "namePrefix", "path", "description"),
    "aws:iam/role:Role": _fn(TF_AWS + "iam/role.go", "name", "namePrefix", "path"),
    "aws:iam/rolePolicy:RolePolicy": _fn(TF_AWS + "iam/role_policy.go", "name", "namePrefix", "role"),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": _fn(TF_AWS + "iam/role_policy_attachment.go",
                                                             "role", "policyArn"),
    "aws:kms/alias:Alias": _fn(TF_AWS + "kms/alias.go", "name", "namePrefix", "region"),
    "aws:kms/key:Key": _fn(TF_AWS + "kms/key.go", "customerMasterKeySpec", "keyUsage", "multiRegion",
                           "customKeyStoreId", "xksKeyId", "region"),
    "aws:lb/listener:Listener": _fn(TF_AWS + "elbv2/listener.go", "loadBalancerArn", "region"),
    "aws:lb/listenerRule:ListenerRule": _fn(TF_AWS + "elbv2/listener_rule.go", "listenerArn", "region"),
    "aws:lb/loadBalancer:LoadBalancer": _fn(TF_AWS + "elbv2/load_balancer.go", "name", "namePrefix",
                                            "internal", "loadBalancerType", "customerOwnedIpv4Pool", "region"),
    "aws:lb/targetGroup:TargetGroup": _fn(TF_AWS + "elbv2/target_group.go", "name", "namePrefix", "port",
                                          "protocol", "protocolVersion", "vpcId", "targetType", "ipAddressType",
                                          "region"),
    "aws:route53/healthCheck:HealthCheck": _fn(TF_AWS + "route53/health_check.go", "type", "requestInterval",
                                               "referenceName", "measureLatency", "routingControlArn"),
    "aws:route53/record:Record": _fn(TF_AWS + "route53/record.go", "zoneId", "name", "type", "setIdentifier"),
    "aws:route53/zone:Zone": _fn(TF_AWS + "route53/zone.go", "name", "delegationSetId"),
    "aws:route53/zoneAssociation:ZoneAssociation": _fn(TF_AWS + "route53/zone_association.go", "zoneId",
                                                       "vpcId", "vpcRegion"),
    "aws:s3/bucket:Bucket": _fn(TF_AWS + "s3/bucket.go", "bucket", "bucketPrefix", "objectLockEnabled",
                                "region"),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": _fn(
        TF_AWS + "s3/bucket_lifecycle_configuration.go", "bucket", "expectedBucketOwner", "region"),
    "aws:s3/bucketPolicy:BucketPolicy": _fn(TF_AWS + "s3/bucket_policy.go", "bucket", "region"),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": _fn(
        TF_AWS + "s3/bucket_public_access_block.go", "bucket", "region"),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": _fn(
        TF_AWS + "s3/bucket_server_side_encryption_configuration.go", "bucket", "expectedBucketOwner", "region"),
    "aws:s3/bucketVersioning:BucketVersioning": _fn(TF_AWS + "s3/bucket_versioning.go", "bucket",
                                                    "expectedBucketOwner", "mfa", "region"),
    "aws:secretsmanager/secret:Secret": _fn(TF_AWS + "secretsmanager/secret.go", "name", "namePrefix", "region"),
    "aws:wafv2/webAcl:WebAcl": _fn(TF_AWS + "wafv2/web_acl.go", "name", "namePrefix", "scope", "region"),
    "aws:wafv2/webAclAssociation:WebAclAssociation": _fn(TF_AWS + "wafv2/web_acl_association.go", "resourceArn",
                                                         "webAclArn", "region"),
    "aws:sns/topic:Topic": _fn(TF_AWS + "sns/topic.go", "name", "namePrefix", "fifoTopic", "region"),
    "aws:sns/topicSubscription:TopicSubscription": _fn(TF_AWS + "sns/topic_subscription.go", "topicArn",
                                                       "protocol", "endpoint", "region"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": _fn(TF_AWS + "cloudwatch/metric_alarm.go", "name", "region"),
    "aws:cloudwatch/dashboard:Dashboard": _fn(TF_AWS + "cloudwatch/dashboard.go", "dashboardName", "region"),
    # --- GCP ---------------------------------------------------------------------------------------
    "gcp:certificatemanager/certificate:Certificate": _fn(
        TF_GOOGLE + "certificatemanager/resource_certificate_manager_certificate.go", "name", "location",
        "project", "scope", "managed.domains", "managed.dnsAuthorizations", "managed.issuanceConfig",
        "selfManaged"),
    "gcp:certificatemanager/dnsAuthorization:DnsAuthorization": _fn(
        TF_GOOGLE + "certificatemanager/resource_certificate_manager_dns_authorization.go", "name", "domain",
        "location", "type", "project"),
    "gcp:compute/address:Address": _fn(
        TF_GOOGLE + "compute/resource_compute_address.go", "name", "address", "addressType", "description",
        "network", "networkTier", "prefixLength", "purpose", "subnetwork", "ipVersion", "ipv6EndpointType",
        "region", "project"),
    "gcp:compute/externalVpnGateway:ExternalVpnGateway": _fn(
        TF_GOOGLE + "compute/resource_compute_external_vpn_gateway.go", "name", "description", "interfaces",
        "redundancyType", "project"),
    "gcp:compute/firewall:Firewall": _fn(TF_GOOGLE + "compute/resource_compute_firewall.go", "name", "network",
                                         "direction", "project"),
    "gcp:compute/forwardingRule:ForwardingRule": _fn(
        TF_GOOGLE + "compute/resource_compute_forwarding_rule.go", "name", "ipAddress", "ipProtocol",
        "backendService", "description", "ipVersion", "isMirroringCollector", "loadBalancingScheme", "network",
        "networkTier", "portRange", "ports", "allPorts", "subnetwork", "serviceLabel", "region", "project"),
    "gcp:compute/haVpnGateway:HaVpnGateway": _fn(
        TF_GOOGLE + "compute/resource_compute_ha_vpn_gateway.go", "name", "description", "network",
        "vpnInterfaces", "stackType", "gatewayIpVersion", "region", "project"),
    "gcp:compute/network:Network": _fn(
        TF_GOOGLE + "compute/resource_compute_network.go", "name", "description", "autoCreateSubnetworks",
        "enableUlaInternalIpv6", "internalIpv6Range", "project"),
    "gcp:compute/regionBackendService:RegionBackendService": _fn(
        TF_GOOGLE + "compute/resource_compute_region_backend_service.go", "name", "loadBalancingScheme",
        "region", "project"),
    "gcp:compute/regionHealthCheck:RegionHealthCheck": _fn(
        TF_GOOGLE + "compute/resource_compute_region_health_check.go", "name", "region", "project"),
    "gcp:compute/regionSecurityPolicy:RegionSecurityPolicy": _fn(
        TF_GOOGLE + "compute/resource_compute_region_security_policy.go", "name", "type", "region", "project"),
    "gcp:compute/regionSslPolicy:RegionSslPolicy": _fn(
        TF_GOOGLE + "compute/resource_compute_region_ssl_policy.go", "name", "description", "region", "project"),
    "gcp:compute/regionTargetHttpsProxy:RegionTargetHttpsProxy": _fn(
        TF_GOOGLE + "compute/resource_compute_region_target_https_proxy.go", "name", "description", "region",
        "project"),
    "gcp:compute/regionUrlMap:RegionUrlMap": _fn(
        TF_GOOGLE + "compute/resource_compute_region_url_map.go", "name", "region", "project"),
    "gcp:compute/router:Router": _fn(TF_GOOGLE + "compute/resource_compute_router.go", "name", "network",
                                     "region", "project", "encryptedInterconnectRouter"),
    # The SDK docstrings say "Changing this forces a new interface to be created" for every argument.
    "gcp:compute/routerInterface:RouterInterface": _fn(
        TF_GOOGLE + "compute/resource_compute_router_interface.go", "name", "router", "region", "ipRange",
        "vpnTunnel", "interconnectAttachment", "redundantInterface", "privateIpAddress", "subnetwork", "project"),
    "gcp:compute/routerNat:RouterNat": _fn(TF_GOOGLE + "compute/resource_compute_router_nat.go", "name",
                                           "router", "region", "project"),
    "gcp:compute/routerPeer:RouterPeer": _fn(TF_GOOGLE + "compute/resource_compute_router_peer.go", "name",
                                             "router", "region", "interface", "project"),
    "gcp:compute/subnetwork:Subnetwork": _fn(
        TF_GOOGLE + "compute/resource_compute_subnetwork.go", "name", "network", "region", "project",
        "description", "purpose", "ipv6AccessType", "externalIpv6Prefix", "ipCollection"),
    "gcp:compute/vPNTunnel:VPNTunnel": _fn(
        TF_GOOGLE + "compute/resource_compute_vpn_tunnel.go", "name", "description", "targetVpnGateway",
        "vpnGateway", "vpnGatewayInterface", "peerExternalGateway", "peerExternalGatewayInterface",
        "peerGcpGateway", "router", "peerIp", "sharedSecret", "ikeVersion", "localTrafficSelector",
        "remoteTrafficSelector", "cipherSuite", "region", "project"),
    "gcp:container/cluster:Cluster": _fn(
        TF_GOOGLE + "container/resource_container_cluster.go", "name", "location", "project", "network",
        "subnetwork", "description", "clusterIpv4Cidr", "enableAutopilot", "enableKubernetesAlpha",
        "initialNodeCount", "ipAllocationPolicy", "networkingMode", "defaultMaxPodsPerNode",
        "privateClusterConfig.masterIpv4CidrBlock", "privateClusterConfig.privateEndpointSubnetwork",
        "nodeConfig"),
    "gcp:container/nodePool:NodePool": _fn(
        TF_GOOGLE + "container/resource_container_node_pool.go", "name", "namePrefix", "cluster", "location",
        "project", "initialNodeCount", "maxPodsPerNode", "networkConfig", "placementPolicy",
        "nodeConfig.guestAccelerators", "nodeConfig.localSsdCount", "nodeConfig.oauthScopes",
        "nodeConfig.serviceAccount", "nodeConfig.shieldedInstanceConfig", "nodeConfig.workloadMetadataConfig.mode",
        "nodeConfig.preemptible", "nodeConfig.spot", "nodeConfig.bootDiskKmsKey", "nodeConfig.minCpuPlatform"),
    "gcp:dns/managedZone:ManagedZone": _fn(TF_GOOGLE + "dns/resource_dns_managed_zone.go", "name", "dnsName",
                                           "visibility", "project"),
    "gcp:dns/recordSet:RecordSet": _fn(TF_GOOGLE + "dns/resource_dns_record_set.go", "managedZone", "name",
                                       "type", "project"),
    "gcp:kms/cryptoKey:CryptoKey": _fn(TF_GOOGLE + "kms/resource_kms_crypto_key.go", "name", "keyRing",
                                       "purpose", "importOnly", "skipInitialVersionCreation",
                                       "cryptoKeyBackend"),
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": _fn(TF_GOOGLE + "kms/iam_kms_crypto_key.go", "cryptoKeyId",
                                                         "role", "member", "condition"),
    "gcp:kms/keyRing:KeyRing": _fn(TF_GOOGLE + "kms/resource_kms_key_ring.go", "name", "location", "project"),
    "gcp:projects/iAMMember:IAMMember": _fn(TF_GOOGLE + "resourcemanager/iam_project.go", "project", "role",
                                            "member", "condition"),
    "gcp:projects/service:Service": _fn(TF_GOOGLE + "serviceusage/resource_google_project_service.go",
                                        "service", "project"),
    "gcp:projects/serviceIdentity:ServiceIdentity": _fn(
        TF_GOOGLE + "serviceusage/resource_project_service_identity.go", "service", "project"),
    "gcp:serviceaccount/account:Account": _fn(TF_GOOGLE + "resourcemanager/resource_google_service_account.go",
                                              "accountId", "project"),
    "gcp:serviceaccount/iAMMember:IAMMember": _fn(TF_GOOGLE + "resourcemanager/iam_service_account.go",
                                                  "serviceAccountId", "role", "member", "condition"),
    "gcp:secretmanager/secret:Secret": _fn(TF_GOOGLE + "secretmanager/resource_secret_manager_secret.go",
                                           "secretId", "replication", "project"),
    "gcp:secretmanager/secretIamMember:SecretIamMember": _fn(TF_GOOGLE + "secretmanager/iam_secret_manager_secret.go",
                                                             "secretId", "role", "member", "condition", "project"),
    "gcp:logging/projectBucketConfig:ProjectBucketConfig": _fn(
        TF_GOOGLE + "logging/resource_logging_project_bucket_config.go", "bucketId", "location", "project"),
    "gcp:logging/projectSink:ProjectSink": _fn(TF_GOOGLE + "logging/resource_logging_project_sink.go", "name",
                                               "project"),
    # dashboard_json is updated in place (PATCH); only the project replaces it.
    "gcp:monitoring/dashboard:Dashboard": _fn(TF_GOOGLE + "monitoring/resource_monitoring_dashboard.go", "project"),
    "gcp:monitoring/alertPolicy:AlertPolicy": _fn(TF_GOOGLE + "monitoring/resource_monitoring_alert_policy.go",
                                                  "project"),
    "gcp:monitoring/notificationChannel:NotificationChannel": _fn(
        TF_GOOGLE + "monitoring/resource_monitoring_notification_channel.go", "type", "project"),
    "gcp:storage/bucket:Bucket": _fn(TF_GOOGLE + "storage/resource_storage_bucket.go", "name", "location",
                                     "project"),
    "gcp:storage/bucketIAMMember:BucketIAMMember": _fn(TF_GOOGLE + "storage/iam_storage_bucket.go", "bucket",
                                                       "role", "member", "condition"),
    # --- Kubernetes (pulumi-kubernetes' forceNew table; `immutable` = the API refuses the change) ------
    "kubernetes:apps/v1:DaemonSet": _k8s(immutable=("spec.selector",)),
    "kubernetes:apps/v1:Deployment": _k8s("spec.selector"),
    "kubernetes:apps/v1:StatefulSet": _k8s("spec.podManagementPolicy", "spec.revisionHistoryLimit",
                                           "spec.selector", "spec.serviceName", "spec.volumeClaimTemplates"),
    "kubernetes:batch/v1:CronJob": _k8s(),
    "kubernetes:batch/v1:Job": _k8s("spec.selector", "spec.template"),
    "kubernetes:core/v1:ConfigMap": _k8s("data", "binaryData"),
    "kubernetes:core/v1:Namespace": _k8s(),
    "kubernetes:core/v1:PersistentVolumeClaim": _k8s("spec.accessModes", "spec.selector", "spec.storageClassName",
                                                     "spec.volumeName"),
    "kubernetes:core/v1:Secret": _k8s("type", "stringData", "data"),
    "kubernetes:core/v1:Service": _k8s("spec.clusterIP", "spec.type"),
    "kubernetes:core/v1:ServiceAccount": _k8s(),
    "kubernetes:networking.k8s.io/v1:NetworkPolicy": _k8s(),
    "kubernetes:policy/v1:PodDisruptionBudget": _k8s(),
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole": _k8s(),
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding": _k8s("roleRef"),
    "kubernetes:rbac.authorization.k8s.io/v1:Role": _k8s(),
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": _k8s("roleRef"),
    # StorageClass parameters, provisioner, reclaimPolicy and volumeBindingMode are immutable in the API.
    "kubernetes:storage.k8s.io/v1:StorageClass": _k8s("parameters", "provisioner", "reclaimPolicy",
                                                      "volumeBindingMode"),
    # The AWS Load Balancer Controller's webhook refuses a change of the bound target group.
    "kubernetes:elbv2.k8s.aws/v1beta1:TargetGroupBinding": _k8s(
        immutable=("spec.targetGroupARN",),
        source="https://github.com/kubernetes-sigs/aws-load-balancer-controller/blob/main/webhooks/elbv2/"
               "targetgroupbinding_validator.go"),
    "kubernetes:keda.sh/v1alpha1:ScaledObject": _k8s(),
    "kubernetes:helm.sh/v3:Release": _k8s("name", "namespace", source=K8S_DIFF),
    # --- tls / random: outputs are functions of every input --------------------------------------------
    "random:index/randomPassword:RandomPassword": _fn("https://github.com/hashicorp/terraform-provider-random",
                                                      "*"),
    "random:index/randomId:RandomId": _fn("https://github.com/hashicorp/terraform-provider-random", "*"),
    "tls:index/privateKey:PrivateKey": _fn("https://github.com/hashicorp/terraform-provider-tls", "*"),
    "tls:index/selfSignedCert:SelfSignedCert": _fn("https://github.com/hashicorp/terraform-provider-tls", "*"),
    "tls:index/certRequest:CertRequest": _fn("https://github.com/hashicorp/terraform-provider-tls", "*"),
    "tls:index/locallySignedCert:LocallySignedCert": _fn("https://github.com/hashicorp/terraform-provider-tls",
                                                         "*"),
}

# Providers are resources too; a changed kubeconfig or project is an update of the provider.
PROVIDER_PREFIX = "pulumi:providers:"


def force_new_for(resource_type: str) -> ForceNew | None:
    return FORCE_NEW.get(resource_type)


def path_matches(changed: str, listed: str) -> bool:
    """True when `changed` and `listed` overlap: the change is at or below the listed field, or replaces
    a whole object that contains it ("*" alone matches everything; "a.*.b" matches any list item)."""
    if listed == "*":
        return True
    c, li = changed.split("."), listed.split(".")
    n = min(len(c), len(li))
    return all(x == y or (y == "*" and x.isdigit()) for x, y in zip(c[:n], li[:n], strict=True))
