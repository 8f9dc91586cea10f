"""Operations: code that talks to real clouds (boto3, Google APIs) or the Pulumi CLI (Automation API).

Everything here sits behind small interfaces so tests run it against moto or fakes, never the network.
"""
