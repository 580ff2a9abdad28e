"""The CDK app that deploys ragline."""
