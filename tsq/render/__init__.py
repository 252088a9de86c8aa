"""What commands show: rows, tables and exports, aggregates over seeds, words in messages. Pure
functions of records and summaries."""
