"""The control plane: what the AWS-compatible APIs do, independent of wire formats."""
