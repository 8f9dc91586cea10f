"""Regional networks: an AWS VPC per region, a global GCP VPC with a subnetwork per region."""
