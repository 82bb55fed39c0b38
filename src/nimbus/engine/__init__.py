"""The data plane: zygotes, execution environments, pools, the Invoker."""
