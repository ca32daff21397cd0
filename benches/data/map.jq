{id: .id, name: "\(.first_name) \(.last_name)", email: (.contact.email | ascii_downcase), amount: (.amount_cents / 100), currency: (.currency | ascii_upcase), created: .created_at}
