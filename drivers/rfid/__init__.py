"""RFID token readers (PN532 over HSU, RDM6300, USB keyboard wedge) behind the HAL ``TokenReader`` port."""
