"""Backup of every mailbox on the old provider into local Maildirs with an index; and its verification."""
