{order: .id, customer: .customer.id, lines: [.items[] | {sku, qty: .quantity, total: (.price * .quantity)}], total: ([.items[] | .price * .quantity] | add), skus: ([.items[].sku] | unique | length)}
