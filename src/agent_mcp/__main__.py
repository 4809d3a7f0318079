from agent_mcp.cli import main

main()
