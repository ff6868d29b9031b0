// usage-ledger: one binary, one subcommand per capability. Placeholder until the CLI lands.
int main() { return 0; }
