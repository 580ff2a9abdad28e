"""The vector store: an OpenSearch Service domain (default) or an OpenSearch Serverless collection.

Both are reached over HTTPS with SigV4 (opensearch-py's AWS signer), by the functions' roles only:

- the domain (``ragline:serverless=false``): no VPC, an access policy naming the roles (IAM is the
  only way in; no anonymous or IP-based access: ingest may use the whole domain, the query and reconcile
  functions only the index's ``_search``, ``_msearch`` and ``_count``), encryption at rest, node-to-node encryption,
  HTTPS only with TLS 1.2 or later, gp3 volumes, slow and error logs in CloudWatch Logs;
- the domain runs ``ragline:engine_version`` (OpenSearch 2.19 or later, checked by :mod:`infra.config`); one
  data node has no zone awareness and its index no replica, more nodes spread over 2 or 3 zones;
- the collection (``ragline:serverless=true``): a VECTORSEARCH collection (the type the k-NN index needs;
  ``ragline:standby_replicas`` its standby replicas; CloudFormation's collection has no generation setting,
  see docs/deploy.md) with its encryption policy
  (AWS-owned key), network policy (public endpoint, IAM-authenticated) and data-access policy granting
  each role only the index and collection permissions it needs.

The functions read ``RAGLINE_OPENSEARCH_URL``, ``RAGLINE_OPENSEARCH_INDEX`` and
``RAGLINE_OPENSEARCH_SERVICE`` (``es`` or ``aoss``, the SigV4 service name) from :attr:`Search.environment`.
"""

from __future__ import annotations

import re

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_opensearchserverless as aoss
from aws_cdk import aws_opensearchservice as opensearch
from constructs import Construct

from infra.config import Config
from infra.functions import RaglineFunction, log_group
from infra.nag import acknowledge

# The domain's HTTP methods. The query function only searches the index (GET/POST on the index's read
# endpoints: POST is also how _bulk writes, so it gets no more paths than these); ingest creates the index
# and writes to it (every method, the domain's paths).
DOMAIN_READ_ACTIONS = ("es:ESHttpGet", "es:ESHttpPost")
DOMAIN_READ_PATHS = ("_search", "_msearch", "_count")
DOMAIN_WRITE_ACTIONS = ("es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost", "es:ESHttpPut", "es:ESHttpDelete")
# The collection's data-access permissions (the index by name, the collection by name).
AOSS_READ_INDEX = ("aoss:DescribeIndex", "aoss:ReadDocument")
AOSS_WRITE_INDEX = (
    "aoss:CreateIndex",
    "aoss:DescribeIndex",
    "aoss:UpdateIndex",
    "aoss:ReadDocument",
    "aoss:WriteDocument",
)
AOSS_COLLECTION = ("aoss:DescribeCollectionItems",)

TLS_POLICY = "Policy-Min-TLS-1-2-PFS-2023-10"


def resource_name(stack: Stack, suffix: str = "", limit: int = 28) -> str:
    """A lowercase name from the stack's name, for resources that policies must name in advance."""
    base = re.sub(r"[^a-z0-9-]+", "-", stack.stack_name.lower()).strip("-") or "ragline"
    if not base[0].isalpha():
        base = "r" + base
    return base[: limit - len(suffix)].rstrip("-") + suffix


class Search(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: Config) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.serverless = config.serverless
        self._readers: list[iam.IRole] = []
        self._writers: list[iam.IRole] = []
        if self.serverless:
            self._collection()
        else:
            self._domain()

    @property
    def environment(self) -> dict[str, str]:
        variables = {
            "RAGLINE_STORE": "opensearch",
            "RAGLINE_OPENSEARCH_URL": self.url,
            "RAGLINE_OPENSEARCH_INDEX": self.config.index,
            "RAGLINE_OPENSEARCH_SERVICE": "aoss" if self.serverless else "es",
        }
        if not self.serverless:
            # The ingest function creates the index with as many replicas as the domain has room for.
            variables["RAGLINE_OPENSEARCH_REPLICAS"] = str(self.config.index_replicas)
        return variables

    # --- the managed domain -------------------------------------------------------------------------

    def _domain(self) -> None:
        config = self.config
        stack = Stack.of(self)
        self.name = resource_name(stack, "-search", 28)
        domain_arn = stack.format_arn(service="es", resource="domain", resource_name=self.name)
        logs = log_group(self, "Logs", config.log_retention_days)
        # OpenSearch publishes its slow and error logs here; only this domain may (no confused deputy).
        logs.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("es.amazonaws.com")],
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[logs.log_group_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {"aws:SourceArn": domain_arn},
                },
            )
        )
        multi_az = config.availability_zones > 1
        self.domain = opensearch.CfnDomain(
            self,
            "Domain",
            domain_name=self.name,
            engine_version=config.engine_version,
            cluster_config=opensearch.CfnDomain.ClusterConfigProperty(
                instance_type=config.instance_type,
                instance_count=config.data_nodes,
                dedicated_master_enabled=False,
                zone_awareness_enabled=multi_az,
                zone_awareness_config=(
                    opensearch.CfnDomain.ZoneAwarenessConfigProperty(availability_zone_count=config.availability_zones)
                    if multi_az
                    else None
                ),
            ),
            ebs_options=opensearch.CfnDomain.EBSOptionsProperty(
                ebs_enabled=True, volume_type="gp3", volume_size=config.volume_gib
            ),
            encryption_at_rest_options=opensearch.CfnDomain.EncryptionAtRestOptionsProperty(enabled=True),
            node_to_node_encryption_options=opensearch.CfnDomain.NodeToNodeEncryptionOptionsProperty(enabled=True),
            domain_endpoint_options=opensearch.CfnDomain.DomainEndpointOptionsProperty(
                enforce_https=True, tls_security_policy=TLS_POLICY
            ),
            log_publishing_options={
                kind: opensearch.CfnDomain.LogPublishingOptionProperty(
                    enabled=True, cloud_watch_logs_log_group_arn=logs.log_group_arn
                )
                for kind in ("SEARCH_SLOW_LOGS", "INDEX_SLOW_LOGS", "ES_APPLICATION_LOGS")
            },
            software_update_options=opensearch.CfnDomain.SoftwareUpdateOptionsProperty(
                auto_software_update_enabled=True
            ),
            off_peak_window_options=opensearch.CfnDomain.OffPeakWindowOptionsProperty(enabled=True),
        )
        # The index is derived data: re-uploading (or copying in place) the documents rebuilds it.
        self.domain.apply_removal_policy(RemovalPolicy.DESTROY)
        self.domain.node.add_dependency(logs)
        self.url = f"https://{self.domain.attr_domain_endpoint}"
        self.arn = self.domain.attr_arn
        self._domain_arn = domain_arn

        for rule, reason in (
            (
                "AwsSolutions-OS1",
                "The domain is reached only by the two functions, which run outside a VPC; "
                "the access policy admits their IAM roles only (SigV4), so a VPC (and its NAT costs) adds little.",
            ),
            (
                "AwsSolutions-OS3",
                "No IP allow-list: access is by IAM principal (the two function roles) in the "
                "domain's access policy, which is stronger than source addresses for Lambda callers.",
            ),
            (
                "AwsSolutions-OS4",
                "No dedicated master nodes: a one-to-few node domain for a document index; "
                "raise ragline:data_nodes and add masters for larger deployments.",
            ),
        ):
            acknowledge(self.domain, rule, reason)
        if not multi_az:
            acknowledge(
                self.domain,
                "AwsSolutions-OS7",
                "One data node by default, to keep the idle cost low; the index can be rebuilt from the "
                "bucket. ragline:data_nodes >= 2 turns zone awareness on.",
            )

    def _domain_paths(self, domain_arn: str, *, write: bool) -> list[str]:
        if write:
            return [f"{domain_arn}/*"]
        # The index and those ragline reindex makes beside it (<index>-r1, ...: docs/operations.md).
        return [f"{domain_arn}/{self.config.index}*/{path}" for path in DOMAIN_READ_PATHS]

    def _domain_policy(self) -> dict:
        statements = []
        for sid, roles, actions, write in (
            ("Readers", self._readers, DOMAIN_READ_ACTIONS, False),
            ("Writers", self._writers, DOMAIN_WRITE_ACTIONS, True),
        ):
            if roles:
                statements.append(
                    {
                        "Sid": sid,
                        "Effect": "Allow",
                        "Principal": {"AWS": [role.role_arn for role in roles]},
                        "Action": list(actions),
                        "Resource": self._domain_paths(self._domain_arn, write=write),
                    }
                )
        return {"Version": "2012-10-17", "Statement": statements}

    # --- the Serverless collection ------------------------------------------------------------------

    def _collection(self) -> None:
        stack = Stack.of(self)
        self.name = resource_name(stack, "", 32)
        collection_resource = [f"collection/{self.name}"]
        encryption = aoss.CfnSecurityPolicy(
            self,
            "EncryptionPolicy",
            name=resource_name(stack, "-enc", 32),
            type="encryption",
            description="ragline collection: encrypted with an AWS-owned key",
            policy=stack.to_json_string(
                {"Rules": [{"ResourceType": "collection", "Resource": collection_resource}], "AWSOwnedKey": True}
            ),
        )
        network = aoss.CfnSecurityPolicy(
            self,
            "NetworkPolicy",
            name=resource_name(stack, "-net", 32),
            type="network",
            description="ragline collection: public endpoint; the data-access policy and IAM decide who gets in",
            policy=stack.to_json_string(
                [{"Rules": [{"ResourceType": "collection", "Resource": collection_resource}], "AllowFromPublic": True}]
            ),
        )
        self.collection = aoss.CfnCollection(
            self,
            "Collection",
            name=self.name,
            type="VECTORSEARCH",
            description="ragline document chunks",
            standby_replicas="ENABLED" if self.config.standby_replicas else "DISABLED",
        )
        self.collection.node.add_dependency(encryption)
        self.collection.node.add_dependency(network)
        self.url = self.collection.attr_collection_endpoint
        self.arn = self.collection.attr_arn
        self.data_access_policy: aoss.CfnAccessPolicy | None = None

    def _collection_rules(self) -> list[dict]:
        index = [f"index/{self.name}/{self.config.index}*"]  # and ragline reindex's <index>-rN beside it
        collection = [f"collection/{self.name}"]
        rules = []
        for description, roles, index_permissions in (
            ("ragline query and reconcile functions: read the index", self._readers, AOSS_READ_INDEX),
            ("ragline ingest function: create and write the index", self._writers, AOSS_WRITE_INDEX),
        ):
            if roles:
                rules.append(
                    {
                        "Description": description,
                        "Rules": [
                            {"ResourceType": "index", "Resource": index, "Permission": list(index_permissions)},
                            {"ResourceType": "collection", "Resource": collection, "Permission": list(AOSS_COLLECTION)},
                        ],
                        "Principal": [role.role_arn for role in roles],
                    }
                )
        return rules

    # --- grants -------------------------------------------------------------------------------------

    def grant_read(self, function: RaglineFunction) -> None:
        self._grant(function, write=False)

    def grant_read_write(self, function: RaglineFunction) -> None:
        self._grant(function, write=True)

    def _grant(self, function: RaglineFunction, *, write: bool) -> None:
        role = function.role
        (self._writers if write else self._readers).append(role)
        stack = Stack.of(self)
        if self.serverless:
            role.add_to_principal_policy(
                iam.PolicyStatement(sid="SearchCollection", actions=["aoss:APIAccessAll"], resources=[self.arn])
            )
            policy = stack.to_json_string(self._collection_rules())
            if self.data_access_policy is None:
                self.data_access_policy = aoss.CfnAccessPolicy(
                    self,
                    "DataAccessPolicy",
                    name=resource_name(stack, "-data", 32),
                    type="data",
                    description="ragline: the functions' roles, each with only the permissions it needs",
                    policy=policy,
                )
            else:
                self.data_access_policy.policy = policy
            return
        actions = DOMAIN_WRITE_ACTIONS if write else DOMAIN_READ_ACTIONS
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="SearchDomain", actions=list(actions), resources=self._domain_paths(self.arn, write=write)
            )
        )
        self.domain.access_policies = self._domain_policy()
        if not write:
            for path in DOMAIN_READ_PATHS:
                acknowledge(
                    role,
                    f"AwsSolutions-IAM5[Resource::<{stack.get_logical_id(self.domain)}.Arn>/{self.config.index}*/{path}]",
                    f"Searches ({path}) of the index and of those ragline reindex builds beside it under the same "
                    "name (<index>-rN), on this one domain; no write, no other path.",
                )
        if write:
            acknowledge(
                role,
                f"AwsSolutions-IAM5[Resource::<{stack.get_logical_id(self.domain)}.Arn>/*]",
                "Ingest creates the index and writes to it (_bulk, _delete_by_query, _update_by_query): "
                "OpenSearch permissions apply to paths, and '<domain ARN>/*' is this one domain, no other.",
            )
