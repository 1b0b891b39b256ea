mod common;
use common::*;
use guichet_engine::ids::BuyerId;
use guichet_engine::inventory::Requester;

#[test]
fn hold_purchase_release_cancel_keep_invariants() {
    let (inventory, clock) = small_inventory();
    let buyer = BuyerId(7);
    let placed = inventory.hold(buyer, &seats(&[("A", "1", 1), ("A", "1", 2)])).unwrap();
    inventory.check_invariants().unwrap();
    let order = inventory.purchase(placed.hold.id, Requester::Buyer(buyer), "k1", "pay-1").unwrap();
    assert!(order.created);
    inventory.check_invariants().unwrap();
    let again = inventory.purchase(placed.hold.id, Requester::Buyer(buyer), "k1", "pay-1").unwrap();
    assert!(!again.created);
    assert_eq!(again.order.id, order.order.id);
    let ga = inventory.hold(buyer, &best_in("GA", 2)).unwrap();
    inventory.check_invariants().unwrap();
    clock.advance_ms(61_000);
    assert_eq!(inventory.expire_holds().unwrap(), 1);
    inventory.check_invariants().unwrap();
    let _ = ga;
    let (cancelled, _) = inventory.cancel_order(order.order.id, Requester::Admin).unwrap();
    assert_eq!(cancelled.status, guichet_engine::inventory::OrderStatus::Cancelled);
    inventory.check_invariants().unwrap();
    assert_eq!(inventory.availability().total.available, 23);
}
