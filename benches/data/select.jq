select(.type == "order.created" and .data.amount > 100 and (.data.tags | index("test") | not))
